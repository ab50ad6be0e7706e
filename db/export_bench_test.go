package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkExportEmailed compares the two ways to read a page's times
// emailed, on the database PAYLINKS_BENCH_DB names (skipped without one):
// one aggregated query over the page's ids (what StreamExport does) and a
// correlated subquery per id. Each op reads 100 pages of 1,000 links in
// the list's order.
func BenchmarkExportEmailed(b *testing.B) {
	path := os.Getenv("PAYLINKS_BENCH_DB")
	if path == "" {
		b.Skip("PAYLINKS_BENCH_DB not set")
	}
	ctx := context.Background()
	st, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var pages []string
	q := LinkQuery{Limit: exportPage}
	for len(pages) < 100 {
		p, err := st.SearchLinks(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]int64, len(p.Links))
		for i, l := range p.Links {
			ids[i] = l.ID
		}
		j, _ := json.Marshal(ids)
		pages = append(pages, string(j))
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	forms := []struct{ name, query string }{
		{"aggregated", qExportEmailed},
		{"correlated", `SELECT h.value, (SELECT count(*) FROM outbox o WHERE o.link_id = h.value AND o.status IN ('sent', 'kept'))
			FROM json_each(?) h`},
	}
	for _, form := range forms { // warm the pages both read, so the order of the runs does not count
		for _, ids := range pages {
			if err := scanPairs(ctx, st.read, form.query, ids, func(int64, sql.NullInt64) {}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, form := range forms {
		b.Run(form.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				for _, ids := range pages {
					if err := scanPairs(ctx, st.read, form.query, ids, func(_ int64, c sql.NullInt64) { n += int(c.Int64) }); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(pages)), "µs/page")
		})
	}
}
