/// The product version, reported by `health`, `agent.hello` and `--version`.
public enum CampaignVersion {
    public static let current = "0.1.0"
}
