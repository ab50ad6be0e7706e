package db

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// SeedLink is one fake link for `paylinks seed`.
type SeedLink struct {
	CustomerID, CustomerEmail, Country string
	AmountMinor                        int64
	AmountText, Currency               string
	WebsiteReference, Note             string
	Status                             paylink.Status
	SMReference, CheckoutURL           string
	CreatedAt, ExpiresAt, PaidAt       time.Time
	SettledAt                          time.Time // a settled link's: a day after it was paid, or now
}

// SeedKeyPrefix marks seeded links' idempotency keys, so seeding can tell
// them from real links.
const SeedKeyPrefix = "seed-"

// RealLinkCount counts links that were not made by seeding.
func (s *Store) RealLinkCount(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM links WHERE substr(idempotency_key, 1, ?) <> ?",
		len(SeedKeyPrefix), SeedKeyPrefix).Scan(&n)
	return n, err
}

// bulkTriggers are dropped while bulk loading. The search triggers' work
// is redone in one pass: row-by-row FTS maintenance runs at a few thousand
// rows a second. The figures (db/figures.go) are rebuilt in one pass when
// the triggers are restored, whether or not the load finished.
var bulkTriggers = []string{"links_keys_insert", "links_keys_update", "links_fts_insert", "links_fts_update", "links_fts_delete",
	"figures_created_insert", "figures_paid_insert", "figures_ended_insert", "figures_status_insert",
	"figures_pay_time_insert"}

// SeedLinks bulk-loads n links from gen in transactions of batch rows, with
// one "created" timeline entry each, by user. It drops the search triggers
// and the figures' insert triggers for the load, then rebuilds link_keys,
// the FTS index (merged into one segment) and the dashboard's figures in
// one pass each and restores the triggers, all before returning.
// progress, if set, is called after each batch.
func (s *Store) SeedLinks(ctx context.Context, n, batch int, user int64, gen func(i int) SeedLink, progress func(done int)) error {
	var trig []string
	rows, err := s.write.QueryContext(ctx, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN ("+placeholders(len(bulkTriggers))+")",
		anySlice(bulkTriggers)...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var sql string
		if err := rows.Scan(&sql); err != nil {
			rows.Close()
			return err
		}
		trig = append(trig, sql)
	}
	rows.Close()
	if len(trig) != len(bulkTriggers) {
		return fmt.Errorf("seed: found %d of %d search and figures triggers", len(trig), len(bulkTriggers))
	}
	var firstID int64
	if err := s.write.QueryRowContext(ctx, "SELECT COALESCE(max(id), 0) + 1 FROM links").Scan(&firstID); err != nil {
		return err
	}
	// A large page cache for the writer's one connection: the random-order
	// index inserts of a bulk load thrash the default 2 MiB.
	if _, err := s.write.ExecContext(ctx, "PRAGMA cache_size = -524288"); err != nil {
		return err
	}
	defer s.write.ExecContext(context.WithoutCancel(ctx), "PRAGMA cache_size = -2000")
	restore := func() error {
		return s.withTx(context.WithoutCancel(ctx), func(tx *Tx) error {
			for _, name := range bulkTriggers {
				if _, err := tx.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+name); err != nil {
					return err
				}
			}
			for _, sql := range trig {
				if _, err := tx.ExecContext(ctx, sql); err != nil {
					return err
				}
			}
			return rebuildFigures(ctx, tx)
		})
	}
	err = s.withTx(ctx, func(tx *Tx) error {
		for _, name := range bulkTriggers {
			if _, err := tx.ExecContext(ctx, "DROP TRIGGER "+name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	loadErr := s.seedRows(ctx, int(firstID-1), n, batch, user, gen, progress)
	if loadErr == nil {
		loadErr = s.withTx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO link_keys (key, link_id, kind)
				SELECT v, id, k FROM (
					SELECT id, idempotency_key AS v, 'idempotency' AS k FROM links WHERE id >= ?1
					UNION ALL SELECT id, customer_id, 'customer' FROM links WHERE id >= ?1
					UNION ALL SELECT id, customer_email, 'email' FROM links WHERE id >= ?1
					UNION ALL SELECT id, website_reference, 'website' FROM links WHERE id >= ?1
					UNION ALL SELECT id, sm_reference, 'reference' FROM links WHERE id >= ?1
					UNION ALL SELECT id, amount_text, 'amount' FROM links WHERE id >= ?1
				) WHERE v IS NOT NULL AND v <> ''`, firstID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO links_fts (links_fts) VALUES ('rebuild')"); err != nil {
				return err
			}
			// The rebuild leaves the index in several segments, and a
			// trigram's postings spread over them: every substring query
			// then merges them as it walks. One segment made the substring
			// tier about a quarter faster on a million links, for ~5 s here.
			_, err := tx.ExecContext(ctx, "INSERT INTO links_fts (links_fts) VALUES ('optimize')")
			return err
		})
	}
	if err := restore(); err != nil {
		return fmt.Errorf("seed: restore search and figures triggers: %w (after %v)", err, loadErr)
	}
	return loadErr
}

// seedRows inserts links offset+0 … offset+n-1 of gen: a second seeding
// continues the sequence instead of repeating it. The timeline entries go
// in one INSERT … SELECT per transaction.
func (s *Store) seedRows(ctx context.Context, offset, n, batch int, user int64, gen func(int) SeedLink, progress func(int)) error {
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		err := s.withTx(ctx, func(tx *Tx) error {
			var firstID int64
			if err := tx.QueryRowContext(ctx, "SELECT COALESCE(max(id), 0) + 1 FROM links").Scan(&firstID); err != nil {
				return err
			}
			ins, err := tx.PrepareContext(ctx, `INSERT INTO links (idempotency_key, status, customer_id, customer_email,
				country, amount_minor, amount_text, currency, website_reference, note, success_url, support_url,
				exit_url, error_url, sm_reference, checkout_url, expires_at, attempts, created_by, created_at, updated_at, paid_at,
				settled_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'https://shop.example/thanks', 'https://shop.example/help',
				'https://shop.example/cart', 'https://shop.example/error', ?, ?, ?, 1, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer ins.Close()
			for i := offset + start; i < offset+end; i++ {
				l := gen(i)
				var ref, url any
				if l.SMReference != "" {
					ref, url = l.SMReference, l.CheckoutURL
				}
				if _, err := ins.ExecContext(ctx, fmt.Sprintf("%s%08d", SeedKeyPrefix, i), l.Status, l.CustomerID, l.CustomerEmail,
					l.Country, l.AmountMinor, l.AmountText, l.Currency, l.WebsiteReference, l.Note, ref, url,
					optMS(l.ExpiresAt), user, ms(l.CreatedAt), ms(l.CreatedAt), optMS(l.PaidAt), optMS(l.SettledAt)); err != nil {
					return err
				}
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO link_events (link_id, at, kind, message)
				SELECT id, created_at, 'created', 'Seeded test data.' FROM links WHERE id >= ?`, firstID)
			return err
		})
		if err != nil {
			return err
		}
		if progress != nil {
			progress(end)
		}
	}
	return nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// FakeLinks returns a generator of deterministic, plausible links for
// seeding: 20,000 customers, a year of dates before now, mostly EUR, every
// status, amounts within the StableMint sandbox's 0.1–10.
func FakeLinks(now time.Time, seed uint64) func(i int) SeedLink {
	return newSeedGen(now, seed).link
}

type seedGen struct {
	now   time.Time
	seed  uint64
	first []string
	last  []string
}

func newSeedGen(now time.Time, seed uint64) *seedGen {
	return &seedGen{now: now, seed: seed,
		first: strings.Fields("ada grace alan edsger barbara donald margaret ken linus guido rob ivan katherine hedy john tim radia frances niklaus leslie"),
		last:  strings.Fields("lovelace hopper turing dijkstra liskov knuth hamilton thompson torvalds rossum pike sutherland johnson lamarr mccarthy berners perlman allen wirth lamport"),
	}
}

var seedCurrencies = []struct {
	code     string
	weight   int
	max      int64 // largest amount in minor units (the sandbox's 10 major units)
	exponent int
}{{"EUR", 60, 1000, 2}, {"USD", 15, 1000, 2}, {"GBP", 12, 1000, 2}, {"CHF", 5, 1000, 2}, {"JPY", 5, 10, 0}, {"KWD", 3, 10000, 3}}

// seedStatuses weighs the statuses of fake links. None is creating: a real
// link is creating for the milliseconds of its StableMint call, and any
// process that finds one left over mints it (Minter.Recover), so seeded
// ones would be sent to whatever StableMint is configured, 20,000 of them
// for a million links, while the server is being tried or load-tested.
var seedStatuses = []struct {
	status paylink.Status
	weight int
}{{paylink.StatusPaid, 30}, {paylink.StatusSettled, 25}, {paylink.StatusOpen, 15}, {paylink.StatusExpired, 12}, {paylink.StatusFailed, 7},
	{paylink.StatusProcessing, 5}, {paylink.StatusError, 6}}

func (g *seedGen) link(i int) SeedLink {
	r := rand.New(rand.NewPCG(g.seed, uint64(i)))
	cust := r.IntN(20000)
	f, l := g.first[cust%len(g.first)], g.last[(cust/len(g.first))%len(g.last)]
	cur := seedCurrencies[pick(r, len(seedCurrencies), func(k int) int { return seedCurrencies[k].weight })]
	minor := 1 + r.Int64N(cur.max)
	status := seedStatuses[pick(r, len(seedStatuses), func(k int) int { return seedStatuses[k].weight })].status
	created := g.now.Add(-time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
	if status == paylink.StatusOpen || status == paylink.StatusProcessing {
		// Still payable: made within the last day, so its 24-hour checkout
		// has not run out (the expiry sweeper would expire it at once).
		created = g.now.Add(-time.Duration(r.Int64N(int64(23 * time.Hour))))
	}
	s := SeedLink{
		CustomerID:       fmt.Sprintf("CUST-%05d", cust),
		CustomerEmail:    fmt.Sprintf("%s.%s%d@example.com", f, l, cust%97),
		Country:          []string{"DE", "FR", "NL", "GB", "ES", "IT", "US", "CH", "JP", "KW"}[r.IntN(10)],
		AmountMinor:      minor,
		AmountText:       majorUnits(minor, cur.exponent),
		Currency:         cur.code,
		WebsiteReference: fmt.Sprintf("INV-%d-%07d", created.Year(), i),
		Status:           status,
		CreatedAt:        created,
	}
	if r.IntN(5) == 0 {
		s.Note = []string{"renewal", "called the customer", "second reminder", "split payment", "VIP"}[r.IntN(5)]
	}
	if status != paylink.StatusError {
		s.SMReference = fmt.Sprintf("SM%012X", r.Uint64()&0xFFFFFFFFFFFF)
		s.CheckoutURL = "https://checkout.stablemint.invalid/" + s.SMReference
		s.ExpiresAt = created.Add(24 * time.Hour)
	}
	if status == paylink.StatusPaid || status == paylink.StatusSettled {
		s.PaidAt = created.Add(time.Duration(5+r.IntN(600)) * time.Minute)
	}
	if status == paylink.StatusSettled {
		s.SettledAt = s.PaidAt.Add(24 * time.Hour)
		if s.SettledAt.After(g.now) { // paid within the last day: settled since
			s.SettledAt = g.now
			if s.PaidAt.After(g.now) {
				s.SettledAt = s.PaidAt
			}
		}
	}
	return s
}

func pick(r *rand.Rand, n int, weight func(int) int) int {
	total := 0
	for k := 0; k < n; k++ {
		total += weight(k)
	}
	x := r.IntN(total)
	for k := 0; k < n; k++ {
		if x -= weight(k); x < 0 {
			return k
		}
	}
	return n - 1
}

// majorUnits writes minor units with exp decimals: 1250, 2 -> "12.50".
func majorUnits(minor int64, exp int) string {
	s := strconv.FormatInt(minor, 10)
	if exp == 0 {
		return s
	}
	for len(s) <= exp {
		s = "0" + s
	}
	return s[:len(s)-exp] + "." + s[len(s)-exp:]
}
