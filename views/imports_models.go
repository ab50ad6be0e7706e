package views

// ImportUploadPage is the bulk-import page: the file to upload, the
// templates, and the imports made before.
type ImportUploadPage struct {
	Layout       Layout
	Action       string
	TemplateCSV  string
	TemplateXLSX string
	Error        string // why the file was refused, beside the file field
	Recent       []ImportBatchRow
}

// ImportBatchRow is an earlier import in a list.
type ImportBatchRow struct {
	URL, FileName, Created, By, State string
	Rows, Minted, Failed, Queued      int
}

// ImportPreviewPage is a file as checked, before anything is sent.
type ImportPreviewPage struct {
	Layout        Layout
	FileName      string
	RemapAction   string
	ConfirmAction string
	UploadURL     string
	Columns       []ImportColumn
	MappingOpen   bool     // a column is left out: show the choices
	Fields        []Option // what a column may fill ("" = leave out)
	Rows          []ImportPreviewRow
	Totals        []string // "EUR 1,260.50 in 2 rows"
	Good, Bad     int
	Duplicates    int
	Earlier       []ImportBatchRow // imports of this same file
	MoreRows      int              // rows without a problem not shown
}

// ImportColumn is one column of the file and the field it fills.
type ImportColumn struct {
	Name   string // the select's name: col.<index>
	Header string
	Field  string
}

// ImportPreviewRow is one row of the preview.
type ImportPreviewRow struct {
	Line      int
	Cells     []ImportCell
	RowErrors []string
	Bad       bool
	// Duplicate says which link or row this one repeats; DupName is the
	// radio group choosing skip or create anyway.
	Duplicate string
	DupName   string
	DupLinks  []LinkRef
}

// LinkRef is a link named in a sentence.
type LinkRef struct {
	ID  int64
	URL string
}

// ImportCell is a cell and its problem.
type ImportCell struct{ Value, Error string }

// ImportProgressPage is a confirmed batch as it is minted.
type ImportProgressPage struct {
	Layout                          Layout
	ID                              int64
	FileName                        string
	By                              string
	Created                         string
	Live                            ImportLive
	LiveURL                         string
	CanWrite                        bool
	Pause, Resume, Cancel, Retry    string // actions' URLs
	ResultCSV, ResultXLSX, LinksURL string
}

// ImportLive is the part of the progress page that updates itself.
type ImportLive struct {
	Version                                          string
	State                                            string // running, paused, cancelled
	Waiting                                          string // why StableMint is being waited for
	Rows, Queued, Minted, Failed, Cancelled, Skipped int
	Emailed                                          int
	// EmailWait says how many customers' emails wait and why (the
	// sending limit); "" when none waits.
	EmailWait string
	Done      bool
	Items     []ImportProgressRow
	Hidden    int // rows not listed (download the result)
	// CanWrite shows Pause, Resume, Retry failed rows and Cancel the rest
	// (as the batch's state allows), posting to these URLs with CSRF.
	CanWrite                     bool
	CSRF                         string
	Pause, Resume, Cancel, Retry string
}

// ImportProgressRow is one row of a batch as it stands.
type ImportProgressRow struct {
	Line                        int
	Customer, Reference, Amount string
	Status, StatusLabel, Error  string
	LinkURL                     string
	LinkID                      int64
}
