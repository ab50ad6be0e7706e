package db

import "context"

// RecentCurrencies lists the currencies of the last `scan` links made,
// most used first (ties by code), at most limit of them. It reads those
// links newest first by id and nothing else, so its cost does not grow
// with the table (a count over every link would read the whole
// links_currency index on each form).
func (s *Store) RecentCurrencies(ctx context.Context, scan, limit int) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT currency FROM (SELECT currency FROM links ORDER BY id DESC LIMIT ?)
		GROUP BY currency ORDER BY count(*) DESC, currency LIMIT ?`, scan, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
