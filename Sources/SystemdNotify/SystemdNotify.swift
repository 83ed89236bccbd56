// SystemdNotify — what systemd sees of our processes.
//
// Owns: sd_notify (READY=1, STATUS=, WATCHDOG=1, STOPPING=1, RELOADING=1), the watchdog and reload
// services, socket activation, journald-formatted log lines.
//
// May not: know about jobs, the database or the protocol.
