import CampaignCore
import Foundation

// One type per method of the protocol (DESIGN §6), in one file per group of methods
// (`Methods+Status`, `+Agents`, `+Jobs`, `+Customers`, `+Automation`, `+Campaigns`, `+Calls`, `+Events`, as the coordinator's
// handler groups). `protocol/openrpc.json` describes the same.

/// Every method name the coordinator serves.
public enum ProtocolMethods {
    public static let types: [any RPCMethod.Type] = [
        RPCDiscover.self, Health.self, MetricsText.self, ListAgents.self, AgentHello.self, LeaseJobs.self, DialingJob.self,
        CompleteJob.self, FailJob.self, SkipJob.self, ReportJobs.self, EnqueueJobs.self, ListJobs.self, GetJob.self, TallyJobs.self, ListCalls.self,
        SubscribeEvents.self, UnsubscribeEvents.self, ListEvents.self, PruneRetention.self,
        AddSuppressions.self, RemoveSuppressions.self, ListSuppressions.self, AuditSummary.self,
        RetryJobs.self, CancelJobs.self, ReconcileJobs.self, ReconcileJobsNow.self, UpsertCustomers.self, GetCustomer.self, ListCustomers.self, ExplainCustomer.self,
        GetAutomation.self, SetAutomation.self, RunAutomation.self,
        CreateCampaign.self, GetCampaign.self, ListCampaigns.self, UpdateCampaign.self, PauseCampaign.self,
        ResumeCampaign.self, EndCampaign.self, AddCampaignMembers.self, RemoveCampaignMembers.self,
    ]
    public static let all: [String] = types.map { $0.name }
    /// The least role of each method.
    public static let roles: [String: AccessRole] = Dictionary(uniqueKeysWithValues: types.map { ($0.name, $0.requiredRole) })
}
