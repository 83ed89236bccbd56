/// Which campaign the next lease goes to, when several have jobs due: stride scheduling
/// (Waldspurger and Weihl, 1995), weighted by the campaigns' priorities. Pure, no clock.
///
/// Each campaign has a *pass*; the campaign with the lowest pass among those that can take a job
/// now gets it, and its pass grows by its *stride*, `unit / weight`. Over any run of picks, a
/// campaign that always has jobs due and headroom under its own limits gets leases in proportion
/// to its weight, within (campaigns − 1) leases of the exact share (one, for two campaigns): a campaign of priority 30 gets three
/// leases for every one of a campaign of priority 10, and no campaign that can take a job waits
/// more than `⌈sum of weights / its weight⌉ + 1` picks for its next one, however many jobs a heavier
/// campaign has queued. A campaign that could not take jobs for a while (nothing due, paused, at
/// its limit) comes back at the present pass: it gets its share from then on, no burst for the
/// time it was away.
///
/// The state lives as long as the process (the coordinator's store): shares are fair across
/// batches of any size, one-job leases included.
public struct FairShare<ID: Hashable & Comparable>: Sendable where ID: Sendable {
    /// Every stride is `unit / weight`: with weights 1…1000 the rounding error is below 2·10⁻¹⁵.
    static var unit: Double { 1_000_000 }

    private var pass: [ID: Double] = [:]
    /// The pass of the last pick: where a campaign coming back (or new) starts.
    private var present: Double = 0

    public init() {}

    /// The campaign that gets the next job among `candidates` (each with its weight, ≥ 1), or nil
    /// when there is none. Ties go to the heavier campaign, then the lower id. Charges the pick.
    public mutating func pick(_ candidates: [(id: ID, weight: Int)]) -> ID? {
        var best: (id: ID, weight: Int, pass: Double)?
        for c in candidates {
            let p = max(self.pass[c.id] ?? self.present, self.present)
            self.pass[c.id] = p
            if let b = best {
                if p < b.pass || (p == b.pass && (c.weight > b.weight || (c.weight == b.weight && c.id < b.id))) {
                    best = (c.id, c.weight, p)
                }
            } else {
                best = (c.id, c.weight, p)
            }
        }
        guard let best else { return nil }
        self.present = best.pass
        self.pass[best.id] = best.pass + Self.unit / Double(max(1, best.weight))
        return best.id
    }

    /// Forgets campaigns not in `keep` (ended or deleted), so the state stays as small as the
    /// campaigns that exist.
    public mutating func retain(_ keep: Set<ID>) {
        self.pass = self.pass.filter { keep.contains($0.key) }
    }
}
