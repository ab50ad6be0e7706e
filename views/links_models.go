package views

// Option is one entry of a select.
type Option struct {
	Value, Label string
}

// KV is a key/value row (custom fields, KYC).
type KV struct {
	Key, Value string
}

// KYCField is one field of the optional KYC section.
type KYCField struct {
	Name  string // form name, e.g. "userKyc.fullName"
	Label string
	Type  string // input type
	Value string
	Hint  string
	// Options makes it a select (the citizenship country).
	Options []Option
}

// LinkFormPage is the new-link form, its values and errors.
type LinkFormPage struct {
	Layout       Layout
	Action       string
	Values       map[string]string // by form name
	CustomFields []KV
	KYC          []KYCField
	KYCOpen      bool
	Errors       FieldErrors
	Countries    []Option
	Currencies   []Option
	FormToken    string
	ReissueOf    int64
	ReissueURL   string
	Duplicates   []LinkRow
	Confirmed    bool // the user already confirmed a duplicate
	AmountLimits string
	// ErrorSummary lists the refused fields in form order, each linking to
	// its field (the page focuses it after a refused submit).
	ErrorSummary []ErrorLink
}

// ErrorLink is one line of an error summary: the message, and the id of
// the field it is about.
type ErrorLink struct{ FieldID, Message string }

// Value returns the typed value of a field.
func (p LinkFormPage) Value(name string) string { return p.Values[name] }

// LinkRow is one link in a table.
type LinkRow struct {
	ID               int64
	URL              string
	Status           string
	Amount           string
	Customer         string
	CustomerEmail    string
	WebsiteReference string
	Reference        string
	Created          string
	Expires          string
	// Emailable rows get a checkbox when the page offers batch email.
	Emailable bool
}

// LinksPage is the list of links with its search and filters.
type LinksPage struct {
	Layout Layout
	Action string // the list URL (the search form's target)
	Filter LinkFilter
	Rows   []LinkRow
	Total  string // "1,234" or "10,000+"; "" while TotalURL counts it
	// TotalURL, when set, answers the total that the page listed its rows
	// without (htmx loads it at once); CountURL is this page counted in
	// full, for browsers without JavaScript.
	TotalURL string
	CountURL string
	NextURL  string // the following page; "" on the last page
	PrevURL  string // the preceding page; "" on the first page
	NewURL   string // "" when the viewer may not create links
	// ExportCSV and ExportXLSX download the rows the filters select.
	ExportCSV  string
	ExportXLSX string
	ClearURL   string
	Statuses   []Option
	Currencies []Option
	Creators   []Option
	Sorts      []Option
	Searched   bool // a term or a filter is set
	// BatchEmail is the form that emails the ticked links; nil for viewers.
	BatchEmail *BatchEmailForm
}

// BatchEmailForm posts the ticked links' ids to be emailed together.
type BatchEmailForm struct {
	Action    string
	FormToken string // one submission: a double click queues one batch
}

// LinkFilter is the search form's state, as in the URL.
type LinkFilter struct {
	Q           string
	Statuses    map[string]bool
	Currency    string
	CreatedFrom string // YYYY-MM-DD
	CreatedTo   string
	ExpiresFrom string
	ExpiresTo   string
	CreatedBy   string
	Sort        string
	Errors      FieldErrors
}

// TimelineEntry is one line of a link's history.
type TimelineEntry struct {
	At      string
	Kind    string
	Actor   string
	Message string
}

// LinkPage is one link.
type LinkPage struct {
	Layout           Layout
	ID               int64
	Status           string
	Amount           string
	CustomerID       string
	CustomerEmail    string
	Country          string
	WebsiteReference string
	Reference        string
	SessionID        string
	DepositReference string
	IdempotencyKey   string
	Note             string
	CreatedBy        string
	Created          string
	Expires          string
	ExpiresRelative  string
	CheckoutURL      string // set only while the link can be paid (open)
	RecordURL        string // the checkout URL of a link no longer offered, for the record
	QRURL            string
	LastError        string
	PaidAfterExpiry  bool
	NeedsReview      bool
	CustomFields     []KV
	KYC              []KV
	KYCMasked        bool
	Timeline         []TimelineEntry
	RetryURL         string // set when the link can be retried
	// HeldHost is set while StableMint's checkout URL waits for an admin
	// to approve its host; HeldURL and ApproveURL only for admins.
	HeldHost      string
	HeldURL       string
	ApproveURL    string
	ReissueURL    string // set when the link can be re-issued
	ReissueOfURL  string
	ReissueOfID   int64
	ReissuedAsURL string
	ReissuedAsID  int64
	RedirectURLs  []KV
	Email         *EmailPanel // the "Email to customer" section (email.templ)
}

// anyEmailable reports whether any row can be ticked for batch email.
func anyEmailable(rows []LinkRow) bool {
	for _, r := range rows {
		if r.Emailable {
			return true
		}
	}
	return false
}
