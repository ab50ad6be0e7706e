package db

import (
	"context"
	"strconv"
)

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// queryIDs runs q in tx (a SELECT or an UPDATE … RETURNING of one integer
// column) and returns the integers, the rows closed.
func queryIDs(ctx context.Context, tx *Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Close()
}
