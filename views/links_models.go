package views

// Option is one entry of a select.
type Option struct {
	Value, Label string
}

// OptionGroup is a labelled group of a select's options (an optgroup).
type OptionGroup struct {
	Label   string
	Options []Option
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
	Currencies   []OptionGroup // the default and most used first, then the rest
	FormToken    string
	ReissueOf    int64
	ReissueURL   string
	Duplicates   []LinkRow
	Confirmed    bool // the user already confirmed a duplicate
	AmountLimits string
	// ErrorSummary lists the refused fields in form order, each linking to
	// its field (the page focuses it after a refused submit).
	ErrorSummary []ErrorLink
	// Problem says why nothing was saved when no field is at fault (the
	// disk refused the write); every typed value is still in the form.
	Problem string
	// ReminderRule is the settings' reminder rule in words, for the
	// reminders section (its fields are reminders.mode and reminders.*).
	ReminderRule string
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
	// Emailable and Cancellable rows get a checkbox when the page offers
	// the selection's actions (email, cancel).
	Emailable   bool
	Cancellable bool
	// CheckoutURL is the customer's checkout page, for the row's Copy link;
	// "" when the link does not offer it (only open links do).
	CheckoutURL string
	// Version changes when the row may have (the link's last change): the
	// list's live updates redraw the rows whose version changed.
	Version string
}

// LinksLive answers a list's live question: the rows on screen that
// changed, and how many links matching the list were made since it was
// drawn ("3 new links"; "" for none).
type LinksLive struct {
	Rows       []LinkRow
	Selectable bool // the list's table has the column of boxes
	New        string
}

// LinksPage is the list of links with its search and filters.
type LinksPage struct {
	Layout Layout
	Action string // the list URL (the search form's target)
	Filter LinkFilter
	Rows   []LinkRow
	Total  string // "1,234" or "10,000+"; "" while TotalURL counts it
	// Range is the rows listed, by position in the whole result: "1–50",
	// "51–100", "7"; "" when none are listed (or the position is unknown).
	Range string
	// TotalURL, when set, answers the total that the page listed its rows
	// without (htmx loads it at once); CountURL is this page counted in
	// full, for browsers without JavaScript.
	TotalURL string
	CountURL string
	NextURL  string // the following page; "" on the last page
	PrevURL  string // the preceding page; "" on the first page
	NewURL   string // "" when the viewer may not create links
	// ImportURL is bulk import's page ("" when the viewer may not create links).
	ImportURL string
	// ExportCSV and ExportXLSX download the rows the filters select.
	ExportCSV  string
	ExportXLSX string
	ClearURL   string
	Statuses   []Option
	Currencies []Option
	Creators   []Option
	Sorts      []Option
	Searched   bool // a term or a filter is set
	// ShortTerm: the term has 1 or 2 characters, too few to search inside
	// the columns (see db.LinkQuery.Term); the page says what it found.
	ShortTerm bool
	// Tabs filter the list by status, the search and filters kept.
	// TabCountsURL, when set, loads their counts just after the page (one
	// request for all, into each tab out of band); CountURL counts them
	// in the page without JavaScript.
	Tabs         []StatusTab
	TabCountsURL string
	// Refused: the filters contradict each other (a date range that ends
	// before it starts, said beside the dates); nothing was searched.
	Refused bool
	// BatchEmail is the form that emails or cancels the ticked links; nil
	// for viewers.
	BatchEmail *BatchEmailForm
	// LiveURL is where the list asks for its changed rows and new links
	// (app.js, every 10 s while the tab is shown); ShowNewURL is the first
	// page of the same search, which the "new links" bar offers.
	LiveURL    string
	ShowNewURL string
	// SavedViews are the user's own views and the shared ones, beside the
	// tabs; SaveView saves the search shown (nil: none offered).
	SavedViews []SavedView
	SaveView   *SaveViewForm
}

// SavedView is a named search of the list. DeleteURL is set for its
// owner, ShareURL for admins.
type SavedView struct {
	ID        int64
	Name      string
	URL       string
	Owner     string
	Shared    bool
	Current   bool // the list shows this view's search
	DeleteURL string
	ShareURL  string
}

// SaveViewForm saves the list's search (Query, its query string) under a
// name.
type SaveViewForm struct {
	Action string
	Query  string
}

// ManagesViews reports a view the user may delete or share.
func (p LinksPage) ManagesViews() bool {
	for _, v := range p.SavedViews {
		if v.DeleteURL != "" || v.ShareURL != "" {
			return true
		}
	}
	return false
}

// Selectable reports a table with a column of boxes: the page offers the
// selection's actions and some row can be ticked.
func (p LinksPage) Selectable() bool { return p.BatchEmail != nil && anySelectable(p.Rows) }

// StatusTab is one tab of the list: a link to the search on one status
// (or every status, or those needing attention).
type StatusTab struct {
	Key     string // "all", "attention" or a status
	Label   string
	URL     string
	Current bool
	Count   string // "1,234" or "10,000+"; "" until counted
}

// BatchEmailForm posts the ticked links' ids to be emailed together, or
// (CancelAction, with a reason) cancelled together.
type BatchEmailForm struct {
	Action       string
	FormToken    string // one submission: a double click queues one batch
	CancelAction string
	Reasons      []Option
	Back         string // this list, to come back to after cancelling
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
	Attention   bool // the Needs attention tab: errors and flagged links
	// Batch keeps the links one bulk import made (?batch=<id>); "" for all.
	Batch  string
	Errors FieldErrors
	// AmountNote says how a term written as an amount with a currency
	// ("€9.99") was searched; "" for other terms.
	AmountNote string
}

// FiltersRefused reports a message beside a filter (the filters open to
// show it).
func (f LinkFilter) FiltersRefused() bool {
	for k := range f.Errors {
		if k != "q" {
			return true
		}
	}
	return false
}

// TimelineEntry is one line of a link's history.
type TimelineEntry struct {
	At      string
	Kind    string
	Title   string // what happened, in plain words (paylink.TimelineTitle)
	Actor   string
	Message string
	// Continues: Message goes on from Title ("Payment started" + ": open →
	// processing."), on the same line; otherwise it is a line of its own.
	Continues bool
	// EventType and EventURL, for admins only: the StableMint event type
	// as sent and the page showing the message as received.
	EventType string
	EventURL  string
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
	Problem          string // a refused action, in a sentence, for the top of the page
	RecordURL        string // the checkout URL of a link no longer offered, for the record
	Flags            LinkFlagSet
	Actions          LinkActions
	CustomFields     []KV
	KYC              []KV
	KYCMasked        bool
	Timeline         []TimelineEntry
	ReissueOfURL     string
	ReissueOfID      int64
	ReissuedAsURL    string
	ReissuedAsID     int64
	RedirectURLs     []KV
	// DeliveriesURL is the link's outbound-webhook delivery log (admins
	// only; "" hides it) and Deliveries how many messages it holds.
	DeliveriesURL string
	Deliveries    int
}

// LinkFlagSet are the warnings a link carries.
type LinkFlagSet struct {
	PaidAfterExpiry bool
	PaidAfterCancel bool
	NeedsReview     bool
}

// LinkActions is the link page's action area: what the link's status
// means and what staff may do about it now, refreshed live as a whole
// when the status changes (Key). Only the fields of the status shown are
// set; an action's URL is set only when the viewer may take it.
type LinkActions struct {
	CSRF   string
	Key    string // changes when the area must be redrawn: status and held host
	ID     int64
	Status string
	Amount string
	Since  string // creating: since when; processing: since when the customer is paying
	// Unsaved (creating): StableMint answered but the disk refused the
	// answer; paylinks saves it by itself once it can. A sentence.
	Unsaved string
	// error
	LastError  string
	RetryURL   string
	HeldHost   string // StableMint's checkout URL waits for an admin to approve this host
	HeldURL    string // admins only
	ApproveURL string // admins only
	// open
	CheckoutURL     string
	QRURL           string
	Expires         string
	ExpiresRelative string
	// paid, settled
	PaidAt           string
	SettledAt        string
	DepositReference string
	// failed, expired, cancelled
	Ended        string // why and when, in a sentence
	StillPayable string // a cancelled link's checkout may still take a payment: until when
	ReissueURL   string
	Cancel       *CancelForm // set when the viewer may cancel the link
	Email        *EmailPanel // the "Email to customer" section (email.templ)
	// Reminders is an open link's reminder schedule and rule
	// (reminders.templ); nil for other statuses.
	Reminders *LinkRemindersPanel
}

// CancelForm is the cancel control of a link: a reason and, for "other",
// the person's own words.
type CancelForm struct {
	Action  string
	Reasons []Option
	Warning string // what cancelling cannot do, in a sentence
	Open    bool   // shown unfolded (after a refused submit)
	Values  map[string]string
	Errors  FieldErrors
}

// anySelectable reports whether any row can be ticked to email or cancel.
func anySelectable(rows []LinkRow) bool {
	for _, r := range rows {
		if r.Emailable || r.Cancellable {
			return true
		}
	}
	return false
}
