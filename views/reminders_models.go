package views

// LinkRemindersPanel is a link page's reminders section: the rule in
// force, what was sent and what is next, and (for finance and admins) the
// form that gives the link its own rule. Field names of the form:
// mode (settings|own), beforeOn, beforeHours, afterOn, afterDays, max.
type LinkRemindersPanel struct {
	CSRF     string
	Action   string // POST /links/:id/reminders; "" when the user may not change it
	Own      bool   // the link has its own rule
	Rule     string // the rule in force, in words
	Settings string // the settings' rule, in words
	Sent     int
	Max      int
	Next     string // when the next reminder is due, or ""
	Status   string // why nothing is due, when nothing is ("Not emailed yet: …")
	// Values are the own-rule fields as the form shows them; Errors, after
	// a refused save, the message by each field (the form is then open).
	Values map[string]string
	Errors FieldErrors
}

// Value returns a field's value.
func (p LinkRemindersPanel) Value(name string) string { return p.Values[name] }

// AccountNotify is the account page's notification choice.
type AccountNotify struct {
	Action string
	Choice string // immediate, digest or off
}
