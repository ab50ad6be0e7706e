package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/xuri/excelize/v2"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/importer"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

// Bulk import: upload a spreadsheet (importer parses and checks it with
// the links service's rules), preview it, confirm it (the store commits
// one batch of creating links), then watch the import job
// (links.BatchMinter) mint them. docs/architecture.md, walk 3.

// bodyLimitImport is the upload route's own body limit: the 10 MiB file
// and the form around it. Every other route keeps bodyLimitGlobal.
var bodyLimitImport = strconv.Itoa(importer.MaxBytes+64<<10) + "B"

// Import route names.
const (
	RouteImport         = "links.import"
	RouteImportUpload   = "links.import.upload"
	RouteImportTmplCSV  = "links.import.template.csv"
	RouteImportTmplXLSX = "links.import.template.xlsx"
	RouteImportPreview  = "links.import.preview"
	RouteImportColumns  = "links.import.columns"
	RouteImportConfirm  = "links.import.confirm"
	RouteImportBatch    = "links.import.batch"
	RouteImportLive     = "links.import.live"
	RouteImportPause    = "links.import.pause"
	RouteImportResume   = "links.import.resume"
	RouteImportCancel   = "links.import.cancel"
	RouteImportRetry    = "links.import.retry"
	RouteImportCSV      = "links.import.result.csv"
	RouteImportXLSX     = "links.import.result.xlsx"
)

// ImportStore is the storage bulk import needs beyond Store. *db.Store
// implements it; the handlers find it on the store (as the exports do).
type ImportStore interface {
	SaveImportUpload(ctx context.Context, u db.ImportUpload) error
	ImportUploadByToken(ctx context.Context, token string) (db.ImportUpload, error)
	ImportMapping(ctx context.Context, headerHash string) ([]string, error)
	SaveImportMapping(ctx context.Context, headerHash string, mapping []string, actor int64) error
	InProgressDuplicates(ctx context.Context, keys []db.DupKey) (map[db.DupKey][]db.Link, error)
	CreateImportBatch(ctx context.Context, nb db.NewImportBatch, a db.AuditEntry) (int64, bool, error)
	ImportBatchByID(ctx context.Context, id int64) (db.ImportBatch, error)
	ImportBatchesByHash(ctx context.Context, hash string) ([]db.ImportBatch, error)
	ImportBatchByUploadToken(ctx context.Context, token string) (int64, error)
	RecentImportBatches(ctx context.Context, limit int) ([]db.ImportBatch, error)
	ImportRows(ctx context.Context, batchID int64) ([]db.ImportRow, error)
	SetImportState(ctx context.Context, id int64, state string, a db.AuditEntry) error
	links.ImportCancelStore
	RetryImportFailed(ctx context.Context, id, actor int64, a db.AuditEntry) (int, error)
}

var _ ImportStore = (*db.Store)(nil)

func (a *app) importRoutes(e *echo.Echo, signedIn, finance echo.MiddlewareFunc) {
	e.GET("/links/import", a.importPage, signedIn, finance).Name = RouteImport
	e.POST("/links/import", a.importUpload, signedIn, finance).Name = RouteImportUpload
	e.GET("/links/import/template.csv", a.importTemplateCSV, signedIn, finance).Name = RouteImportTmplCSV
	e.GET("/links/import/template.xlsx", a.importTemplateXLSX, signedIn, finance).Name = RouteImportTmplXLSX
	e.GET("/links/import/files/:token", a.importPreview, signedIn, finance).Name = RouteImportPreview
	e.POST("/links/import/files/:token/columns", a.importColumns, signedIn, finance).Name = RouteImportColumns
	e.POST("/links/import/files/:token/confirm", a.importConfirm, signedIn, finance).Name = RouteImportConfirm
	e.GET("/links/import/batches/:id", a.importBatch, signedIn, finance).Name = RouteImportBatch
	e.GET("/links/import/batches/:id/live", a.importLive, signedIn, finance).Name = RouteImportLive
	e.POST("/links/import/batches/:id/pause", a.importPause, signedIn, finance).Name = RouteImportPause
	e.POST("/links/import/batches/:id/resume", a.importResume, signedIn, finance).Name = RouteImportResume
	e.POST("/links/import/batches/:id/cancel", a.importCancel, signedIn, finance).Name = RouteImportCancel
	e.POST("/links/import/batches/:id/retry", a.importRetry, signedIn, finance).Name = RouteImportRetry
	e.GET("/links/import/batches/:id/result.csv", a.importResultCSV, signedIn, finance).Name = RouteImportCSV
	e.GET("/links/import/batches/:id/result.xlsx", a.importResultXLSX, signedIn, finance).Name = RouteImportXLSX
}

// importUploadPath is the one route whose body may exceed bodyLimitGlobal.
func importUploadPath(c echo.Context) bool {
	return c.Request().Method == http.MethodPost && c.Request().URL.Path == "/links/import"
}

func (a *app) imports() (ImportStore, error) {
	s, ok := a.store.(ImportStore)
	if !ok || a.opts.Imports == nil {
		return nil, echo.NewHTTPError(http.StatusNotFound).WithInternal(errors.New("bulk import needs a store with import calls and the import job"))
	}
	return s, nil
}

func (a *app) importPage(c echo.Context) error {
	return a.renderImportPage(c, http.StatusOK, "")
}

func (a *app) renderImportPage(c echo.Context, status int, problem string) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	p := views.ImportUploadPage{Layout: a.layout(c, "Import links", "links"), Action: a.url(RouteImportUpload),
		TemplateCSV: a.url(RouteImportTmplCSV), TemplateXLSX: a.url(RouteImportTmplXLSX), Error: problem}
	recent, err := s.RecentImportBatches(c.Request().Context(), 10)
	if err != nil {
		return err
	}
	p.Recent = a.batchRows(viewerZone(c), recent)
	return a.render(c, status, views.ImportUpload(p))
}

func (a *app) batchRows(loc *time.Location, bs []db.ImportBatch) []views.ImportBatchRow {
	out := make([]views.ImportBatchRow, 0, len(bs))
	for _, b := range bs {
		out = append(out, views.ImportBatchRow{URL: a.url(RouteImportBatch, b.ID), FileName: b.FileName, Created: when(loc, b.CreatedAt),
			By: b.CreatedByName, State: importStateWord(b), Rows: b.RowCount, Minted: b.Counts.Minted, Failed: b.Counts.Failed,
			Queued: b.Counts.Queued})
	}
	return out
}

func importStateWord(b db.ImportBatch) string {
	switch {
	case b.State == db.ImportCancelled:
		return "cancelled"
	case b.Counts.Done():
		return "finished"
	case b.State == db.ImportPaused:
		return "paused"
	}
	return "in progress"
}

// importUpload reads the file, refuses what is not a usable spreadsheet
// beside the file field (422, nothing kept), and keeps a usable one for
// its preview.
func (a *app) importUpload(c echo.Context) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return a.renderImportPage(c, http.StatusUnprocessableEntity, "Choose a CSV or Excel (.xlsx) file to upload.")
	}
	if fh.Size > importer.MaxBytes {
		return a.renderImportPage(c, http.StatusUnprocessableEntity, "The file is larger than 10 MiB. Split it into smaller files.")
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, importer.MaxBytes+1))
	if err != nil {
		return err
	}
	if _, err := importer.Parse(data); err != nil {
		var fe *importer.FileError
		if errors.As(err, &fe) {
			return a.renderImportPage(c, http.StatusUnprocessableEntity, fe.Message)
		}
		return err
	}
	name := cleanFileName(fh.Filename)
	token := rand.Text()
	if err := s.SaveImportUpload(c.Request().Context(), db.ImportUpload{Token: token, UserID: currentUser(c).ID,
		FileName: name, FileHash: importer.FileHash(data), Data: data}); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteImportPreview, token))
}

// cleanFileName keeps a file's base name as text to show: printable,
// at most 100 characters.
func cleanFileName(n string) string {
	n = filepath.Base(strings.ReplaceAll(n, "\\", "/"))
	n = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return -1
		}
		return r
	}, n)
	if utf8.RuneCountInString(n) > 100 {
		n = string([]rune(n)[:100])
	}
	if n == "" || n == "." || n == "/" {
		n = "upload"
	}
	return n
}

func (a *app) importTemplateCSV(c echo.Context) error {
	a.startDownload(c, "text/csv; charset=utf-8", "paylinks-import-template", "csv")
	_, err := c.Response().Write(importer.TemplateCSV())
	return err
}

func (a *app) importTemplateXLSX(c echo.Context) error {
	b, err := importer.TemplateXLSX()
	if err != nil {
		return err
	}
	a.startDownload(c, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "paylinks-import-template", "xlsx")
	_, err = c.Response().Write(b)
	return err
}

// checkedUpload is an upload read again and checked.
type checkedUpload struct {
	upload  db.ImportUpload
	table   *importer.Table
	mapping importer.Mapping
	result  importer.Result
	dups    map[db.DupKey][]db.Link
}

// upload finds the :token upload of the signed-in user (admins: anyone's).
func (a *app) upload(c echo.Context, s ImportStore) (db.ImportUpload, error) {
	u, err := s.ImportUploadByToken(c.Request().Context(), c.Param("token"))
	if errors.Is(err, db.ErrNotFound) {
		return u, echo.NewHTTPError(http.StatusNotFound, "This upload was already imported, or never existed. Upload the file again.")
	}
	if err != nil {
		return u, err
	}
	me := currentUser(c)
	if u.UserID != me.ID && !me.Role.AtLeast(paylink.RoleAdmin) {
		return u, echo.NewHTTPError(http.StatusNotFound)
	}
	return u, nil
}

// check parses an upload and checks every row with the form's rules:
// the mapping remembered for its headers, else the one matched by name.
func (a *app) check(ctx context.Context, s ImportStore, u db.ImportUpload) (checkedUpload, error) {
	cu := checkedUpload{upload: u}
	t, err := importer.Parse(u.Data)
	if err != nil {
		return cu, err
	}
	cu.table = t
	cu.mapping = importer.AutoMap(t.Headers)
	if saved, err := s.ImportMapping(ctx, importer.HeaderHash(t.Headers)); err != nil {
		return cu, err
	} else if len(saved) == len(t.Headers) {
		cu.mapping = importer.Mapping(saved).Adjust(nil)
	}
	st, err := a.store.GetSettings(ctx)
	if err != nil {
		return cu, err
	}
	st = a.defaults(st)
	cu.result = importer.Check(t, cu.mapping, importer.Options{
		Limits: func(cur string) stablemint.Limits { return a.minter.Limits(st, cur) },
		Now:    a.now(),
		// As the new-link form prefills them: used when no column fills them.
		Defaults: map[string]string{"successUrl": st.SuccessURL, "supportUrl": st.SupportURL, "exitUrl": st.ExitURL,
			"errorUrl": st.ErrorURL, "currency": st.DefaultCurrency, "userCountryCode": st.DefaultCountry},
	})
	var keys []db.DupKey
	for _, r := range cu.result.Rows {
		if r.OK() && r.DupOfLine == 0 {
			keys = append(keys, db.DupKey(r.Key()))
		}
	}
	cu.dups, err = s.InProgressDuplicates(ctx, keys)
	return cu, err
}

// maxPreviewGood is how many rows without a problem the preview lists
// (every row with a problem or a duplicate is listed).
const maxPreviewGood = 200

func (a *app) importPreview(c echo.Context) error {
	return a.renderPreview(c, http.StatusOK)
}

func (a *app) renderPreview(c echo.Context, status int) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := a.upload(c, s)
	if err != nil {
		return err
	}
	cu, err := a.check(ctx, s, u)
	if err != nil {
		return err
	}
	token := c.Param("token")
	p := views.ImportPreviewPage{Layout: a.layout(c, "Check "+u.FileName, "links"), FileName: u.FileName,
		RemapAction: a.url(RouteImportColumns, token), ConfirmAction: a.url(RouteImportConfirm, token), UploadURL: a.url(RouteImport)}
	p.Fields = append(p.Fields, views.Option{Value: "", Label: "— leave out —"})
	for _, f := range importer.Fields() {
		p.Fields = append(p.Fields, views.Option{Value: f, Label: importer.Label(f) + " (" + f + ")"})
	}
	for i, h := range cu.table.Headers {
		f := cu.mapping[i]
		if strings.HasPrefix(f, importer.CustomPrefix) && !slices.ContainsFunc(p.Fields, func(o views.Option) bool { return o.Value == f }) {
			p.Fields = append(p.Fields, views.Option{Value: f, Label: importer.Label(f)})
		}
		p.Columns = append(p.Columns, views.ImportColumn{Name: "col." + strconv.Itoa(i), Header: h, Field: f})
		p.MappingOpen = p.MappingOpen || f == ""
	}
	// Offer each header as its own custom field too.
	for _, h := range cu.table.Headers {
		if h != "" {
			f := importer.CustomPrefix + strings.TrimSpace(h)
			if !slices.ContainsFunc(p.Fields, func(o views.Option) bool { return o.Value == f }) {
				p.Fields = append(p.Fields, views.Option{Value: f, Label: "Custom field \"" + strings.TrimSpace(h) + "\""})
			}
		}
	}
	var bad, dup, good []views.ImportPreviewRow
	for _, r := range cu.result.Rows {
		row := views.ImportPreviewRow{Line: r.Line, Bad: !r.OK(), RowErrors: r.RowErrors, DupName: "dup." + strconv.Itoa(r.Line)}
		for i := range cu.table.Headers {
			row.Cells = append(row.Cells, views.ImportCell{Value: shorten(strings.ToValidUTF8(cellAt(r.Cells, i), "\uFFFD"), 200), Error: r.CellErrors[i]})
		}
		switch {
		case !r.OK():
			bad = append(bad, row)
			continue
		case r.DupOfLine != 0:
			row.Duplicate = "Same customer, website reference and amount as row " + strconv.Itoa(r.DupOfLine) + "."
		default:
			if ls := cu.dups[db.DupKey(r.Key())]; len(ls) > 0 {
				row.Duplicate = "A link for the same customer, website reference and amount is still in progress:"
				for _, l := range ls {
					row.DupLinks = append(row.DupLinks, views.LinkRef{ID: l.ID, URL: a.url(RouteLink, l.ID)})
				}
			}
		}
		p.Good++
		if row.Duplicate != "" {
			dup = append(dup, row)
			continue
		}
		if len(good) < maxPreviewGood {
			good = append(good, row)
		} else {
			p.MoreRows++
		}
	}
	p.Bad, p.Duplicates = len(bad), len(dup)
	p.Rows = slices.Concat(bad, dup, good)
	for _, t := range cu.result.Totals {
		rows := "rows"
		if t.Rows == 1 {
			rows = "row"
		}
		p.Totals = append(p.Totals, fmt.Sprintf("%s in %d %s", formatMoney(t.Minor, t.Currency), t.Rows, rows))
	}
	earlier, err := s.ImportBatchesByHash(ctx, u.FileHash)
	if err != nil {
		return err
	}
	p.Earlier = a.batchRows(viewerZone(c), earlier)
	return a.render(c, status, views.ImportPreview(p))
}

func cellAt(cells []string, i int) string {
	if i < len(cells) {
		return cells[i]
	}
	return ""
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// importColumns applies the user's choice of columns, remembers it for
// files with the same headers, and shows the check again.
func (a *app) importColumns(c echo.Context) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := a.upload(c, s)
	if err != nil {
		return err
	}
	t, err := importer.Parse(u.Data)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	choice := map[int]string{}
	for i := range t.Headers {
		if v, ok := form["col."+strconv.Itoa(i)]; ok && len(v) > 0 {
			choice[i] = strings.TrimSpace(v[0])
			if !importer.Valid(choice[i]) {
				choice[i] = ""
			}
		}
	}
	m := make(importer.Mapping, len(t.Headers)).Adjust(choice)
	if err := s.SaveImportMapping(ctx, importer.HeaderHash(t.Headers), m, currentUser(c).ID); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteImportPreview, c.Param("token")))
}

// importConfirm commits the checked file as one batch: a creating link
// for each good row (duplicates skipped unless "create anyway" was
// chosen; rows with problems left out, each recorded with its messages),
// then wakes the import job. A second confirmation finds the first batch.
func (a *app) importConfirm(c echo.Context) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	token := c.Param("token")
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	u, err := a.upload(c, s)
	if he := (*echo.HTTPError)(nil); errors.As(err, &he) && he.Code == http.StatusNotFound {
		// Confirmed already (a double click, a second tab): its batch.
		if id, berr := s.ImportBatchByUploadToken(ctx, token); berr == nil {
			return a.redirect(c, a.url(RouteImportBatch, id))
		}
		return err
	}
	if err != nil {
		return err
	}
	cu, err := a.check(ctx, s, u)
	if err != nil {
		return err
	}
	if len(cu.result.Rows) == cu.result.Bad {
		return a.renderPreview(c, http.StatusUnprocessableEntity)
	}
	me := currentUser(c)
	nb := db.NewImportBatch{UploadToken: token, FileName: u.FileName, FileHash: u.FileHash, Headers: cu.table.Headers,
		Mapping: cu.mapping, CreatedBy: me.ID}
	for _, r := range cu.result.Rows {
		row := db.NewImportRow{Line: r.Line, Cells: r.Cells, Email: r.Email}
		createAnyway := form.Get("dup."+strconv.Itoa(r.Line)) == "create"
		switch {
		case !r.OK():
			row.Skipped = "Not created: " + strings.Join(rowMessages(r, cu.table.Headers), " ")
		case r.DupOfLine != 0 && !createAnyway:
			row.Skipped = "Skipped: same customer, website reference and amount as row " + strconv.Itoa(r.DupOfLine) + "."
		case len(cu.dups[db.DupKey(r.Key())]) > 0 && !createAnyway:
			row.Skipped = "Skipped: link #" + strconv.FormatInt(cu.dups[db.DupKey(r.Key())][0].ID, 10) +
				" for the same customer, website reference and amount is still in progress."
		default:
			d := r.Draft
			d.AllowDuplicate = createAnyway
			nl := links.NewLink(d, r.Request, me.ID)
			row.Link = &nl
		}
		nb.Rows = append(nb.Rows, row)
	}
	if err := s.SaveImportMapping(ctx, importer.HeaderHash(cu.table.Headers), cu.mapping, me.ID); err != nil {
		return err
	}
	id, _, err := s.CreateImportBatch(ctx, nb, a.auditEntry(c, "import.create"))
	if err != nil {
		return err
	}
	a.opts.Imports.Wake()
	return a.redirect(c, a.url(RouteImportBatch, id))
}

// rowMessages are a bad row's problems, each named by its column.
func rowMessages(r importer.Checked, headers []string) []string {
	var out []string
	for i, h := range headers {
		if msg := r.CellErrors[i]; msg != "" {
			out = append(out, h+": "+msg)
		}
	}
	return append(out, r.RowErrors...)
}

// batchParam loads the :id batch.
func (a *app) batchParam(c echo.Context, s ImportStore) (db.ImportBatch, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return db.ImportBatch{}, echo.NewHTTPError(http.StatusNotFound)
	}
	return s.ImportBatchByID(c.Request().Context(), id)
}

// maxProgressRows is how many rows the progress page lists (failed rows
// first); the result download has them all.
const maxProgressRows = 500

func (a *app) importLiveModel(c echo.Context, s ImportStore, b db.ImportBatch) (views.ImportLive, error) {
	ctx := c.Request().Context()
	l := views.ImportLive{CanWrite: true, CSRF: csrfToken(c), Pause: a.url(RouteImportPause, b.ID),
		Resume: a.url(RouteImportResume, b.ID), Cancel: a.url(RouteImportCancel, b.ID), Retry: a.url(RouteImportRetry, b.ID),
		State: b.State, Rows: b.RowCount, Queued: b.Counts.Queued, Minted: b.Counts.Minted,
		Failed: b.Counts.Failed, Cancelled: b.Counts.Cancelled, Skipped: b.Counts.Skipped, Emailed: b.Counts.Emailed,
		Done: b.Counts.Done()}
	if b.State == db.ImportRunning {
		l.Waiting, _ = a.opts.Imports.Waiting()
	}
	l.EmailWait = a.importEmailWait(b)
	rows, err := s.ImportRows(ctx, b.ID)
	if err != nil {
		return l, err
	}
	col := func(f string) int { return slices.Index(b.Mapping, f) }
	cust, ref, amt, cur := col("userId"), col("websiteReference"), col("amount"), col("currency")
	var failed, rest []views.ImportProgressRow
	for _, r := range rows {
		pr := views.ImportProgressRow{Line: r.Line, Customer: cellAt(r.Cells, cust), Reference: cellAt(r.Cells, ref),
			Amount: strings.TrimSpace(cellAt(r.Cells, amt) + " " + cellAt(r.Cells, cur)), LinkID: r.LinkID}
		pr.Status, pr.StatusLabel, pr.Error = importRowStatus(r)
		if r.LinkID != 0 {
			pr.LinkURL = a.url(RouteLink, r.LinkID)
		}
		if pr.Error != "" {
			failed = append(failed, pr)
		} else {
			rest = append(rest, pr)
		}
	}
	all := slices.Concat(failed, rest)
	if len(all) > maxProgressRows {
		l.Hidden = len(all) - maxProgressRows
		all = all[:maxProgressRows]
	}
	l.Items = all
	l.Version = fmt.Sprintf("%s.%d.%d.%d.%d.%d.%d.%s.%s", b.State, b.Counts.Queued, b.Counts.Minted, b.Counts.Failed,
		b.Counts.Cancelled, b.Counts.Emailed, b.UpdatedAt.UnixMilli(), l.Waiting, l.EmailWait)
	return l, nil
}

// importEmailWait says how many of a batch's customer emails wait to be
// queued, and, when the confirming person's email budget (the one their
// own Send takes from, outbox.SendBudget) is spent, that they wait for it.
func (a *app) importEmailWait(b db.ImportBatch) string {
	n := b.Counts.EmailsWaiting
	switch {
	case n == 0 || b.State == db.ImportCancelled:
		return ""
	case a.sendLimits.Spent(b.CreatedBy, a.now()):
		return fmt.Sprintf("%d customer emails wait for the sending limit: at most %d customer emails a minute go out for each person, "+
			"and these count as %s's. They go out by themselves as the limit allows, each once.", n, a.sendLimits.PerMinute(), b.CreatedByName)
	}
	return fmt.Sprintf("%d customer emails are about to be queued.", n)
}

// importRowStatus is a row's status in staff's words, and its error.
func importRowStatus(r db.ImportRow) (status, label, errText string) {
	switch {
	case r.Pending:
		return "creating", "Waiting", ""
	case r.LinkID == 0:
		return "cancelled", "Skipped", r.Skipped
	case r.Status == paylink.StatusCreating && r.Attempts == 0:
		return "creating", "Waiting", ""
	case r.Status == paylink.StatusCreating:
		return "creating", "Sending to StableMint", ""
	case r.Status == paylink.StatusOpen:
		return "open", "Link made", ""
	case r.Status == paylink.StatusError:
		return "error", "Failed", r.LastError
	case r.Status == paylink.StatusCancelled:
		return "cancelled", "Cancelled", ""
	}
	return string(r.Status), "Link made (" + string(r.Status) + ")", ""
}

func (a *app) importBatch(c echo.Context) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	b, err := a.batchParam(c, s)
	if err != nil {
		return err
	}
	live, err := a.importLiveModel(c, s, b)
	if err != nil {
		return err
	}
	p := views.ImportProgressPage{Layout: a.layout(c, "Import "+b.FileName, "links"), ID: b.ID, FileName: b.FileName,
		By: b.CreatedByName, Created: when(viewerZone(c), b.CreatedAt), Live: live, LiveURL: a.url(RouteImportLive, b.ID),
		ResultCSV: a.url(RouteImportCSV, b.ID), ResultXLSX: a.url(RouteImportXLSX, b.ID),
		LinksURL: a.url(RouteLinks) + "?batch=" + strconv.FormatInt(b.ID, 10)}
	return a.render(c, http.StatusOK, views.ImportProgress(p))
}

// importLive is the progress page's live part (static/js/app.js polls it
// as it polls a link's page): 204 while nothing changed.
func (a *app) importLive(c echo.Context) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	b, err := a.batchParam(c, s)
	if err != nil {
		return err
	}
	live, err := a.importLiveModel(c, s, b)
	if err != nil {
		return err
	}
	if v := c.QueryParam("v"); v != "" && v == live.Version {
		return c.NoContent(http.StatusNoContent)
	}
	return a.render(c, http.StatusOK, views.ImportLiveFragment(live))
}

func (a *app) importPause(c echo.Context) error {
	return a.importSetState(c, db.ImportPaused, "Paused: no more rows are sent until you press Resume.")
}
func (a *app) importResume(c echo.Context) error {
	return a.importSetState(c, db.ImportRunning, "Resumed.")
}

func (a *app) importSetState(c echo.Context, state, done string) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	b, err := a.batchParam(c, s)
	if err != nil {
		return err
	}
	err = s.SetImportState(c.Request().Context(), b.ID, state, a.auditEntry(c, "import."+map[string]string{db.ImportPaused: "pause", db.ImportRunning: "resume"}[state]))
	switch {
	case errors.Is(err, db.ErrConflict):
		done = "This import was cancelled; it cannot be paused or resumed."
	case err != nil:
		return err
	}
	a.opts.Imports.Wake()
	if err := a.flash(c, "info", done); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteImportBatch, b.ID))
}

func (a *app) importCancel(c echo.Context) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	b, err := a.batchParam(c, s)
	if err != nil {
		return err
	}
	n, err := links.CancelImportRest(c.Request().Context(), s, b.ID, currentUser(c).ID, a.auditEntry(c, "import.cancel"))
	if err != nil {
		return err
	}
	if err := a.flash(c, "info", fmt.Sprintf("Cancelled: %d rows not yet made will not be created. Links already made stay as they are.", n)); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteImportBatch, b.ID))
}

func (a *app) importRetry(c echo.Context) error {
	s, err := a.imports()
	if err != nil {
		return err
	}
	b, err := a.batchParam(c, s)
	if err != nil {
		return err
	}
	n, err := s.RetryImportFailed(c.Request().Context(), b.ID, currentUser(c).ID, a.auditEntry(c, "import.retry"))
	msg := fmt.Sprintf("%d failed rows are sent again, each with its own key, so none can get two checkouts.", n)
	switch {
	case errors.Is(err, db.ErrConflict):
		msg = "This import was cancelled: open a failed link to retry it on its own."
	case err != nil:
		return err
	}
	a.opts.Imports.Wake()
	if err := a.flash(c, "info", msg); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteImportBatch, b.ID))
}

// resultRows is the result download: each input row with its link.
func (a *app) resultRows(c echo.Context) (db.ImportBatch, []string, [][]string, error) {
	s, err := a.imports()
	if err != nil {
		return db.ImportBatch{}, nil, nil, err
	}
	b, err := a.batchParam(c, s)
	if err != nil {
		return b, nil, nil, err
	}
	rows, err := s.ImportRows(c.Request().Context(), b.ID)
	if err != nil {
		return b, nil, nil, err
	}
	head := slices.Concat([]string{"row"}, b.Headers, []string{"linkId", "checkoutUrl", "stableMintReference", "status", "error"})
	out := make([][]string, 0, len(rows))
	for _, r := range rows {
		cells := make([]string, len(b.Headers))
		copy(cells, r.Cells)
		_, label, errText := importRowStatus(r)
		id := ""
		if r.LinkID != 0 {
			id = strconv.FormatInt(r.LinkID, 10)
		}
		out = append(out, slices.Concat([]string{strconv.Itoa(r.Line)}, cells, []string{id, r.CheckoutURL, r.SMReference, label, errText}))
	}
	return b, head, out, nil
}

func (a *app) importResultCSV(c echo.Context) error {
	b, head, rows, err := a.resultRows(c)
	if err != nil {
		return err
	}
	a.startDownload(c, "text/csv; charset=utf-8", "import-"+strconv.FormatInt(b.ID, 10)+"-result", "csv")
	s, err := newCSVStream(c.Response(), head)
	if err == nil {
		for _, r := range rows {
			if err = s.Row(r); err != nil {
				break
			}
		}
	}
	s.End(c.Request().Context(), a.log, "import result", err)
	return nil
}

// importResultXLSX is the same rows as a workbook, every cell text.
func (a *app) importResultXLSX(c echo.Context) error {
	b, head, rows, err := a.resultRows(c)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "Result"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	write := func(n int, cells []string) error {
		row := make([]any, len(cells))
		for i, v := range cells {
			row[i] = excelize.Cell{StyleID: text, Value: v}
		}
		cell, _ := excelize.CoordinatesToCellName(1, n)
		return sw.SetRow(cell, row)
	}
	if err := write(1, head); err != nil {
		return err
	}
	for i, r := range rows {
		if err := write(i+2, r); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return err
	}
	a.startDownload(c, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "import-"+strconv.FormatInt(b.ID, 10)+"-result", "xlsx")
	_, err = c.Response().Write(buf.Bytes())
	return err
}
