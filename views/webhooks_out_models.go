package views

// The outbound-webhook pages (handlers/webhooks_out.go): the endpoints an
// admin registered, one endpoint with its delivery log, and the log of a
// link's deliveries.

// WebhookEndpointsPage lists the endpoints and registers new ones.
type WebhookEndpointsPage struct {
	Layout    Layout
	Endpoints []WebhookEndpointRow
	Form      WebhookEndpointForm
	Errors    FieldErrors
	Types     []string // every event type, in order
	// Secret is the new endpoint's secret, shown on this response only.
	Secret       *WebhookSecret
	PrivateHosts string // one per line
	HostsErrors  FieldErrors
	Sandbox      bool
	Actions      WebhookEndpointsActions
}

// WebhookEndpointsActions are the list page's form targets.
type WebhookEndpointsActions struct {
	Create, Hosts string
}

// WebhookSecret is a secret shown once, for the endpoint at URL.
type WebhookSecret struct {
	URL    string
	Secret string
	// Rotated: the old secret still signs until OldUntil.
	Rotated  bool
	OldUntil string
}

// WebhookEndpointForm is what the register and edit forms hold.
type WebhookEndpointForm struct {
	URL         string
	Description string
	Types       map[string]bool
	Enabled     bool
}

// WebhookEndpointRow is one endpoint.
type WebhookEndpointRow struct {
	ID             int64
	URL            string
	Description    string
	Types          []string
	Enabled        bool
	DisabledReason string
	FailingSince   string // "" when not failing
	Listener       bool
	Rotating       string // when the old secret stops signing, "" when none
	Pending        int
	ViewURL        string
}

// WebhookEndpointPage is one endpoint: edit, rotate, test, delete, replay
// and its delivery log.
type WebhookEndpointPage struct {
	Layout   Layout
	Endpoint WebhookEndpointRow
	Form     WebhookEndpointForm
	Errors   FieldErrors
	Types    []string
	Secret   *WebhookSecret
	Replay   WebhookReplayForm
	Plan     *WebhookReplayPlan // the dry run's count, with a form to confirm
	Log      []WebhookMessageRow
	Actions  WebhookEndpointActions
}

// WebhookEndpointActions are one endpoint's form targets.
type WebhookEndpointActions struct {
	Back, Update, Rotate, Test, Delete, Replay string
}

// WebhookReplayForm selects failed deliveries to replay.
type WebhookReplayForm struct {
	Type string
	From string // YYYY-MM-DD (UTC), inclusive
	To   string // YYYY-MM-DD (UTC), inclusive
}

// WebhookReplayPlan is what a replay would send.
type WebhookReplayPlan struct {
	Failed, Messages, Links int
}

// WebhookMessageRow is one message with its attempts.
type WebhookMessageRow struct {
	ID         int64
	MsgID      string
	Type       string
	LinkID     int64
	LinkURL    string
	Endpoint   string
	Status     string
	Replay     bool
	ReplayedAs int64
	Attempts   []WebhookAttemptRow
	CreatedAt  string
	NextAt     string // pending: when it is tried next
	LastError  string
	ResendURL  string // "" while pending
}

// WebhookAttemptRow is one attempt in the log.
type WebhookAttemptRow struct {
	At       string
	Status   string // the HTTP status, or "no answer"
	Duration string
	Error    string
	Response string
}

// WebhookDeliveriesPage is the delivery log of one link, across endpoints.
type WebhookDeliveriesPage struct {
	Layout Layout
	LinkID int64
	Log    []WebhookMessageRow
}
