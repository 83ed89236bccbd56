// CampaignAgentKit — the agent: lease, pre-dial check, place the call, report.
//
// Owns: the work loop and its call slots (AgentRunner, Slots, Permits), what a pre-dial check's
// answer means (PreDialCheckPolicy), which report follows a call
// (ReportPlan) and how it is delivered (ReportDeliveryPolicy), the coordinator link with
// reconnects, report delivery and the spool that keeps reports across a crash, the call watchdog,
// and the placers (simulate, exec, http: its decisions in HTTPCallStateMachine, pure).
//
// May not: touch the database (everything goes through the coordinator), or dial a job without a
// `jobs.dialing` answer that allows it.
