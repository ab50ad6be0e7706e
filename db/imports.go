package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// ImportUpload is a file uploaded for bulk import, kept until its batch is
// made (the preview and re-mapping read it again).
type ImportUpload struct {
	ID        int64
	Token     string
	UserID    int64
	FileName  string
	FileHash  string
	Data      []byte
	CreatedAt time.Time
}

// ImportUploadMaxAge is how long an upload nobody confirmed is kept.
const ImportUploadMaxAge = 24 * time.Hour

// SaveImportUpload keeps an uploaded file under its random token, and
// deletes in the same transaction uploads older than ImportUploadMaxAge
// that nobody confirmed.
func (s *Store) SaveImportUpload(ctx context.Context, u ImportUpload) error {
	return s.withTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM import_uploads WHERE created_at < ?", ms(tx.now.Add(-ImportUploadMaxAge))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO import_uploads (token, user_id, file_name, file_hash, data, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, u.Token, u.UserID, clean(u.FileName), u.FileHash, u.Data, ms(tx.now))
		return mapErr(err)
	})
}

// ImportUploadByToken reads an upload back; ErrNotFound once its batch
// was made (or for a token never given).
func (s *Store) ImportUploadByToken(ctx context.Context, token string) (ImportUpload, error) {
	var u ImportUpload
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT id, token, user_id, file_name, file_hash, data, created_at
		FROM import_uploads WHERE token = ?`, token).Scan(&u.ID, &u.Token, &u.UserID, &u.FileName, &u.FileHash, &u.Data, &at)
	u.CreatedAt = fromMS(at)
	return u, mapErr(err)
}

// ImportMapping is the mapping last confirmed for a header layout (nil:
// none yet).
func (s *Store) ImportMapping(ctx context.Context, headerHash string) ([]string, error) {
	var raw string
	err := s.read.QueryRowContext(ctx, "SELECT mapping FROM import_mappings WHERE header_hash = ?", headerHash).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m []string
	return m, json.Unmarshal([]byte(raw), &m)
}

// SaveImportMapping remembers a mapping for its header layout.
func (s *Store) SaveImportMapping(ctx context.Context, headerHash string, mapping []string, actor int64) error {
	b, _ := json.Marshal(mapping)
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO import_mappings (header_hash, mapping, updated_by, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (header_hash) DO UPDATE SET mapping = excluded.mapping, updated_by = excluded.updated_by,
			updated_at = excluded.updated_at`, headerHash, string(b), nullID(actor), ms(tx.now))
		return err
	})
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// InProgressDuplicates lists, for each key, the unfinished links the
// form's duplicate guard would show (CreateLink): at most 10 each.
func (s *Store) InProgressDuplicates(ctx context.Context, keys []DupKey) (map[DupKey][]Link, error) {
	out := map[DupKey][]Link{}
	for _, k := range keys {
		if _, done := out[k]; done {
			continue
		}
		dups, err := duplicatesOf(ctx, s.read, k, 0)
		if err != nil {
			return nil, err
		}
		out[k] = dups
	}
	return out, nil
}

// NewImportRow is one row of a confirmed file: the link it makes, or why
// none (Link nil, Skipped said).
type NewImportRow struct {
	Line    int
	Cells   []string
	Link    *NewLink
	Email   bool
	Skipped string
}

// NewImportBatch is a confirmed file.
type NewImportBatch struct {
	UploadToken string
	FileName    string
	FileHash    string
	Headers     []string
	Mapping     []string
	Rows        []NewImportRow
	CreatedBy   int64
}

// qInsertImportLink inserts a link of a batch: creating, with its own key,
// no call counted yet (attempts 0 marks a link StableMint never heard of).
const qInsertImportLink = `INSERT INTO links (idempotency_key, status, customer_id,
	customer_email, country, amount_minor, amount_text, currency, website_reference, note, custom_fields, kyc,
	success_url, support_url, exit_url, error_url, created_by, created_at, updated_at, attempts)
	VALUES (?, 'creating', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`

// ImportChunk is how many rows' links one transaction of a confirmation
// makes: small enough that webhooks and other writes get the writer
// between chunks, large enough that a 10,000-row file takes a few dozen
// commits.
const ImportChunk = 250

// CreateImportBatch commits a confirmed file: first, in one transaction,
// the batch, every row (a row that makes a link holds that link, its
// idempotency key chosen, as pending), one audit entry, and the upload
// deleted; then the links, ImportChunk rows a transaction
// (MakeImportLinks), so other writers take turns with it. Each link is
// creating with its own idempotency key, and its timeline says which
// import and row made it. Nothing is sent to StableMint here: the import
// job mints the links. A crash between the transactions leaves rows
// pending, never half made: the import job makes them (MakeImportLinks).
// A second confirmation of the same upload (a double click, two tabs)
// makes nothing and returns the first batch with created=false. A row
// whose duplicate appeared since the preview (unless allowed) is skipped
// with the reason when its link would be made.
func (s *Store) CreateImportBatch(ctx context.Context, nb NewImportBatch, a AuditEntry) (id int64, created bool, err error) {
	id, created, err = s.PlanImportBatch(ctx, nb, a)
	if err != nil || !created {
		return id, created, err
	}
	for {
		n, err := s.makeImportLinks(ctx, id, ImportChunk)
		if err != nil {
			return id, true, err
		}
		if n == 0 {
			return id, true, nil
		}
	}
}

// PlanImportBatch is CreateImportBatch's first transaction alone: the
// batch, its rows (those that make a link pending, with the link), the
// audit entry, the upload deleted; no link is made yet.
func (s *Store) PlanImportBatch(ctx context.Context, nb NewImportBatch, a AuditEntry) (id int64, created bool, err error) {
	headers, _ := json.Marshal(nb.Headers)
	mapping, _ := json.Marshal(nb.Mapping)
	type row struct {
		cells   string
		pending any
	}
	rows := make([]row, len(nb.Rows))
	planned := 0
	for i, r := range nb.Rows {
		cells, _ := json.Marshal(r.Cells)
		rows[i].cells = string(cells)
		if r.Link != nil && r.Skipped == "" {
			p, err := json.Marshal(r.Link)
			if err != nil {
				return 0, false, err
			}
			rows[i].pending = string(p)
			planned++
		}
	}
	err = s.withTx(ctx, func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT id FROM import_batches WHERE upload_token = ?", nb.UploadToken).Scan(&id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := ms(tx.now)
		res, err := tx.ExecContext(ctx, `INSERT INTO import_batches (upload_token, file_name, file_hash, headers, mapping,
			row_count, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			nb.UploadToken, clean(nb.FileName), nb.FileHash, string(headers), string(mapping), len(nb.Rows), nb.CreatedBy, now, now)
		if err != nil {
			return mapErr(err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		insRow, err := tx.PrepareContext(ctx, `INSERT INTO import_rows (batch_id, line, cells, email, skipped, pending) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insRow.Close()
		for i, r := range nb.Rows {
			if _, err := insRow.ExecContext(ctx, id, r.Line, rows[i].cells, r.Email, clean(r.Skipped), rows[i].pending); err != nil {
				return mapErr(err)
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM import_uploads WHERE token = ?", nb.UploadToken); err != nil {
			return err
		}
		created = true
		a.Target = "import:" + itoa(id)
		a.Details = "file " + strconv.Quote(nb.FileName) + "; sha256 " + nb.FileHash + "; rows " + strconv.Itoa(len(nb.Rows)) +
			"; links " + strconv.Itoa(planned)
		return insertAudit(ctx, tx, a)
	})
	return id, created, err
}

// MakeImportLinks makes the links of up to limit pending rows of any
// batch, in one transaction, and says how many rows it settled: what a
// confirmation interrupted between its chunks left (CreateImportBatch).
// The import job calls it until it returns 0.
func (s *Store) MakeImportLinks(ctx context.Context, limit int) (int, error) {
	// Most runs find nothing: ask a reader (import_rows_pending) before
	// taking the writer.
	var pending bool
	if err := s.read.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM import_rows WHERE pending IS NOT NULL)").Scan(&pending); err != nil || !pending {
		return 0, err
	}
	return s.makeImportLinks(ctx, 0, limit)
}

// makeImportLinks makes the links of up to limit pending rows of batch (0:
// any), in one transaction: each row's link inserted, its timeline line,
// and the row's link_id set and pending cleared together. A row of a
// cancelled batch makes no link; one whose duplicate appeared since the
// check (unless allowed) neither: each is skipped with the reason.
func (s *Store) makeImportLinks(ctx context.Context, batch int64, limit int) (int, error) {
	n := 0
	err := s.withTx(ctx, func(tx *Tx) error {
		n = 0
		q := `SELECT r.batch_id, r.line, r.pending, b.file_name, b.created_by, b.state FROM import_rows r
			JOIN import_batches b ON b.id = r.batch_id WHERE r.pending IS NOT NULL`
		args := []any{}
		if batch != 0 {
			q += " AND r.batch_id = ?"
			args = append(args, batch)
		}
		q += " ORDER BY r.batch_id, r.line LIMIT ?"
		args = append(args, limit)
		type pendingRow struct {
			batch, createdBy int64
			line             int
			fileName, state  string
			link             NewLink
		}
		rs, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		var todo []pendingRow
		for rs.Next() {
			var p pendingRow
			var raw string
			if err := rs.Scan(&p.batch, &p.line, &raw, &p.fileName, &p.createdBy, &p.state); err != nil {
				rs.Close()
				return err
			}
			if err := json.Unmarshal([]byte(raw), &p.link); err != nil {
				rs.Close()
				return err
			}
			todo = append(todo, p)
		}
		if err := rs.Close(); err != nil {
			return err
		}
		if len(todo) == 0 {
			return nil
		}
		insLink, err := tx.PrepareContext(ctx, qInsertImportLink)
		if err != nil {
			return err
		}
		defer insLink.Close()
		setRow, err := tx.PrepareContext(ctx, "UPDATE import_rows SET link_id = ?, skipped = ?, pending = NULL WHERE batch_id = ? AND line = ?")
		if err != nil {
			return err
		}
		defer setRow.Close()
		insEvent, err := tx.PrepareContext(ctx, "INSERT INTO link_events (link_id, at, kind, actor_id, message) VALUES (?, ?, 'created', ?, ?)")
		if err != nil {
			return err
		}
		defer insEvent.Close()
		now := ms(tx.now)
		for _, p := range todo {
			nl := p.link
			var linkID any
			skipped := ""
			if p.state == ImportCancelled {
				skipped = "Not created: the import was cancelled before this row's link was made."
			} else if !nl.AllowDuplicate {
				dups, err := duplicatesOf(ctx, tx, DupKey{nl.CustomerID, nl.WebsiteReference, nl.AmountMinor, nl.Currency}, 0)
				if err != nil {
					return err
				}
				if len(dups) > 0 {
					skipped = "Not created: link #" + itoa(dups[0].ID) + " for the same customer, reference and amount was made after the check."
				}
			}
			if skipped == "" {
				res, err := insLink.ExecContext(ctx, nl.IdempotencyKey, nl.CustomerID, nl.CustomerEmail, nl.Country,
					nl.AmountMinor, nl.AmountText, nl.Currency, nl.WebsiteReference, nl.Note, encodeMap(nl.CustomFields),
					encodeMap(nl.KYC), nl.SuccessURL, nl.SupportURL, nl.ExitURL, nl.ErrorURL, p.createdBy, now, now)
				if err != nil {
					return mapErr(err)
				}
				lid, err := res.LastInsertId()
				if err != nil {
					return err
				}
				linkID = lid
				msg := "Created by import " + p.fileName + " row " + strconv.Itoa(p.line) + "; waiting its turn to be sent to StableMint."
				if _, err := insEvent.ExecContext(ctx, lid, now, p.createdBy, clean(msg)); err != nil {
					return err
				}
			}
			if _, err := setRow.ExecContext(ctx, linkID, skipped, p.batch, p.line); err != nil {
				return mapErr(err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// Import batch states.
const (
	ImportRunning   = "running"
	ImportPaused    = "paused"
	ImportCancelled = "cancelled"
)

// ImportBatch is a confirmed file and where its rows stand.
type ImportBatch struct {
	ID            int64
	FileName      string
	FileHash      string
	Headers       []string
	Mapping       []string
	RowCount      int
	State         string
	CreatedBy     int64
	CreatedByName string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Counts        ImportCounts
}

// ImportCounts counts a batch's rows by where they stand.
type ImportCounts struct {
	Queued    int // creating, not yet answered, or its link not made yet
	Minted    int // StableMint made the session (open or any later status but cancelled)
	Failed    int // in error
	Cancelled int
	Skipped   int
	Emailed   int // rows whose customer was sent an email about the link
	// EmailsWaiting counts rows that asked for an email, whose link is
	// open, with none queued yet (ImportEmailsDue).
	EmailsWaiting int
}

// Done reports a batch with no row still waiting for StableMint.
func (c ImportCounts) Done() bool { return c.Queued == 0 }

const importBatchCols = `b.id, b.file_name, b.file_hash, b.headers, b.mapping, b.row_count, b.state, b.created_by,
	COALESCE(u.name, ''), b.created_at, b.updated_at`

func scanImportBatch(r scanner) (ImportBatch, error) {
	var b ImportBatch
	var headers, mapping string
	var created, updated int64
	if err := r.Scan(&b.ID, &b.FileName, &b.FileHash, &headers, &mapping, &b.RowCount, &b.State, &b.CreatedBy,
		&b.CreatedByName, &created, &updated); err != nil {
		return b, mapErr(err)
	}
	_ = json.Unmarshal([]byte(headers), &b.Headers)
	_ = json.Unmarshal([]byte(mapping), &b.Mapping)
	b.CreatedAt, b.UpdatedAt = fromMS(created), fromMS(updated)
	return b, nil
}

// ImportBatchByID loads a batch with its counts.
func (s *Store) ImportBatchByID(ctx context.Context, id int64) (ImportBatch, error) {
	b, err := scanImportBatch(s.read.QueryRowContext(ctx, "SELECT "+importBatchCols+
		" FROM import_batches b LEFT JOIN users u ON u.id = b.created_by WHERE b.id = ?", id))
	if err != nil {
		return b, err
	}
	err = s.read.QueryRowContext(ctx, `SELECT
		COALESCE(sum(l.status = 'creating' OR r.pending IS NOT NULL), 0),
		COALESCE(sum(l.status NOT IN ('creating', 'error', 'cancelled')), 0),
		COALESCE(sum(l.status = 'error'), 0),
		COALESCE(sum(l.status = 'cancelled'), 0),
		COALESCE(sum(r.link_id IS NULL AND r.pending IS NULL), 0),
		COALESCE(sum(EXISTS (SELECT 1 FROM outbox o WHERE o.link_id = r.link_id AND o.status IN ('sent', 'kept'))), 0),
		COALESCE(sum(r.email = 1 AND l.status = 'open' AND l.checkout_url IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dedupe_key = 'import:' || l.id)), 0)
		FROM import_rows r LEFT JOIN links l ON l.id = r.link_id WHERE r.batch_id = ?`, id).Scan(
		&b.Counts.Queued, &b.Counts.Minted, &b.Counts.Failed, &b.Counts.Cancelled, &b.Counts.Skipped, &b.Counts.Emailed,
		&b.Counts.EmailsWaiting)
	return b, err
}

// ImportBatchByUploadToken is the batch an upload became (ErrNotFound:
// none yet).
func (s *Store) ImportBatchByUploadToken(ctx context.Context, token string) (int64, error) {
	var id int64
	err := s.read.QueryRowContext(ctx, "SELECT id FROM import_batches WHERE upload_token = ?", token).Scan(&id)
	return id, mapErr(err)
}

// ImportBatchesByHash lists the batches made from a file with this hash,
// newest first.
func (s *Store) ImportBatchesByHash(ctx context.Context, hash string) ([]ImportBatch, error) {
	ids, err := s.ids(ctx, "SELECT id FROM import_batches WHERE file_hash = ? ORDER BY id DESC LIMIT 5", hash)
	if err != nil {
		return nil, err
	}
	return s.importBatches(ctx, ids)
}

// RecentImportBatches lists the newest batches with their counts.
func (s *Store) RecentImportBatches(ctx context.Context, limit int) ([]ImportBatch, error) {
	ids, err := s.ids(ctx, "SELECT id FROM import_batches ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, err
	}
	return s.importBatches(ctx, ids)
}

func (s *Store) importBatches(ctx context.Context, ids []int64) ([]ImportBatch, error) {
	out := make([]ImportBatch, 0, len(ids))
	for _, id := range ids {
		b, err := s.ImportBatchByID(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// ImportRow is one row of a batch with its link as it stands.
type ImportRow struct {
	Line        int
	Cells       []string
	Email       bool
	Skipped     string
	LinkID      int64
	Status      paylink.Status
	LastError   string
	CheckoutURL string
	SMReference string
	Attempts    int
	// Pending: the confirmation has not made this row's link yet.
	Pending bool
}

// ImportRows lists a batch's rows in file order.
func (s *Store) ImportRows(ctx context.Context, batchID int64) ([]ImportRow, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT r.line, r.cells, r.email, r.skipped, COALESCE(r.link_id, 0),
		COALESCE(l.status, ''), COALESCE(l.last_error, ''), COALESCE(l.checkout_url, ''), COALESCE(l.sm_reference, ''),
		COALESCE(l.attempts, 0), r.pending IS NOT NULL
		FROM import_rows r LEFT JOIN links l ON l.id = r.link_id WHERE r.batch_id = ? ORDER BY r.line`, batchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ImportRow
	for rows.Next() {
		var r ImportRow
		var cells string
		if err := rows.Scan(&r.Line, &cells, &r.Email, &r.Skipped, &r.LinkID, &r.Status, &r.LastError, &r.CheckoutURL,
			&r.SMReference, &r.Attempts, &r.Pending); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(cells), &r.Cells)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ImportLinksToMint lists up to limit links the import job should send
// now, oldest first: those creating in running batches, and in paused
// batches those already sent once (attempts > 0: StableMint may hold a
// session for them, so they are finished, never left hanging). A
// cancelled batch's links are cancelled, never sent (ImportBatchesToCancel).
func (s *Store) ImportLinksToMint(ctx context.Context, limit int) ([]int64, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT l.id FROM links l
		JOIN import_rows r ON r.link_id = l.id JOIN import_batches b ON b.id = r.batch_id
		WHERE l.status = 'creating' AND (b.state = 'running' OR (b.state = 'paused' AND l.attempts > 0)) ORDER BY l.id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ImportBatchOfLink is the batch and row that made a link (0, 0: none).
func (s *Store) ImportBatchOfLink(ctx context.Context, linkID int64) (batch int64, line int, state string, err error) {
	err = s.read.QueryRowContext(ctx, `SELECT r.batch_id, r.line, b.state FROM import_rows r
		JOIN import_batches b ON b.id = r.batch_id WHERE r.link_id = ?`, linkID).Scan(&batch, &line, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, "", nil
	}
	return batch, line, state, err
}

// SetImportState pauses or resumes a batch (running or paused), audited.
// A cancelled batch stays cancelled: ErrConflict.
func (s *Store) SetImportState(ctx context.Context, id int64, state string, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE import_batches SET state = ?, updated_at = ? WHERE id = ? AND state <> 'cancelled'`,
			state, ms(tx.now), id)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict
		}
		a.Target = "import:" + itoa(id)
		a.Details = "state " + state
		return insertAudit(ctx, tx, a)
	})
}

// StopImportBatch is the first step of an import's Cancel the rest: the
// batch is cancelled (the import job starts no call for it from now on),
// audited. Its links still creating are then cancelled one by one through
// the links cancel service (links.CancelImportRest, with
// ImportLinksCreating and CancelLinks).
func (s *Store) StopImportBatch(ctx context.Context, id int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE import_batches SET state = 'cancelled', updated_at = ? WHERE id = ?", ms(tx.now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		a.Target = "import:" + itoa(id)
		a.Details = "cancelled the rest"
		return insertAudit(ctx, tx, a)
	})
}

// ImportLinksCreating lists a batch's links still creating, in row order.
func (s *Store) ImportLinksCreating(ctx context.Context, batchID int64) ([]int64, error) {
	return s.ids(ctx, `SELECT l.id FROM import_rows r JOIN links l ON l.id = r.link_id
		WHERE r.batch_id = ? AND l.status = 'creating' ORDER BY r.line`, batchID)
}

// ImportBatchesToCancel lists the cancelled batches that still have links
// creating: a Cancel the rest the process did not finish (it stopped
// between StopImportBatch and the last link's cancel).
func (s *Store) ImportBatchesToCancel(ctx context.Context) ([]int64, error) {
	return s.ids(ctx, `SELECT b.id FROM import_batches b WHERE b.state = 'cancelled' AND EXISTS (SELECT 1
		FROM import_rows r JOIN links l ON l.id = r.link_id WHERE r.batch_id = b.id AND l.status = 'creating') ORDER BY b.id`)
}

// RetryImportFailed moves a batch's links in error (other than those
// whose checkout waits for an admin) back to creating, with their keys,
// and runs the batch again; audited once. It returns how many.
func (s *Store) RetryImportFailed(ctx context.Context, id, actor int64, a AuditEntry) (int, error) {
	n := 0
	err := s.withTx(ctx, func(tx *Tx) error {
		var state string
		if err := tx.QueryRowContext(ctx, "SELECT state FROM import_batches WHERE id = ?", id).Scan(&state); err != nil {
			return mapErr(err)
		}
		if state == ImportCancelled {
			return ErrConflict
		}
		ids, err := queryIDs(ctx, tx, `UPDATE links SET status = 'creating', updated_at = ? WHERE status = 'error'
			AND held_checkout_host IS NULL AND id IN (SELECT link_id FROM import_rows WHERE batch_id = ? AND link_id IS NOT NULL)
			RETURNING id`, ms(tx.now), id)
		if err != nil {
			return err
		}
		for _, lid := range ids {
			if err := insertLinkEvent(ctx, tx, lid, "retried", actor, "Retry requested from the import with the same idempotency key.", 0); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE import_batches SET state = 'running', updated_at = ? WHERE id = ?", ms(tx.now), id); err != nil {
			return err
		}
		n = len(ids)
		a.Target = "import:" + itoa(id)
		a.Details = "retry failed rows: " + strconv.Itoa(n)
		return insertAudit(ctx, tx, a)
	})
	return n, err
}

// RequeueImportLink puts a link of a batch that StableMint refused for a
// passing reason (the circuit breaker was open) back in the queue: error
// to creating, same key, with a timeline line.
func (s *Store) RequeueImportLink(ctx context.Context, id int64, why string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE links SET status = 'creating', last_error = '', updated_at = ?
			WHERE id = ? AND status = 'error' AND held_checkout_host IS NULL`, ms(tx.now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return insertLinkEvent(ctx, tx, id, "retried", 0, why, 0)
	})
}

// ImportEmailsDue lists up to limit open links of import rows that asked
// for an email ("email" yes) and have none queued yet, by id after after,
// leaving out the links of cancelled batches and those made by
// skipUsers (whose email budget is spent).
func (s *Store) ImportEmailsDue(ctx context.Context, after int64, limit int, skipUsers []int64) ([]Link, error) {
	q := "SELECT " + linkCols + linkFrom + ` JOIN import_rows r ON r.link_id = l.id
		JOIN import_batches b ON b.id = r.batch_id AND b.state <> 'cancelled'
		WHERE r.email = 1 AND l.status = 'open' AND l.checkout_url IS NOT NULL AND l.id > ?
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dedupe_key = 'import:' || l.id)`
	args := []any{after}
	for _, u := range skipUsers {
		q += " AND l.created_by <> ?"
		args = append(args, u)
	}
	return queryLinks(ctx, s.read, q+" ORDER BY l.id LIMIT ?", append(args, limit)...)
}

// QueueImportEmail queues the email an import row asked for, at most once
// per link (dedupe key import:<link>), with its timeline line and audit
// entry; false when it was queued before.
func (s *Store) QueueImportEmail(ctx context.Context, ne NewEmail, a AuditEntry) (bool, error) {
	ne.DedupeKey = "import:" + itoa(ne.LinkID)
	queued := false
	err := s.withTx(ctx, func(tx *Tx) error {
		id, err := insertEmail(ctx, tx, ne, 0, 0, "the import row asked to email the customer once the link was made")
		if errors.Is(err, errDeduped) {
			return nil
		}
		if err != nil {
			return err
		}
		queued = true
		a.Target = linkTarget(ne.LinkID)
		a.Details = "outbox:" + itoa(id) + " to " + ne.ToAddr + " (import)"
		return insertAudit(ctx, tx, a)
	})
	return queued, err
}
