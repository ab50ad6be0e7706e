package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/ingest"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// eventsPerPage is the admin list's page size.
const eventsPerPage = 50

// maxDismissNote bounds the note an admin leaves when dismissing.
const maxDismissNote = 500

// outcomeLabels names every outcome a delivery can show, in filter order.
var outcomeLabels = []views.Option{
	{Value: string(paylink.OutcomeApplied), Label: "applied"},
	{Value: string(paylink.OutcomeNoChange), Label: "no change"},
	{Value: string(paylink.OutcomeNeedsReview), Label: "needs review"},
	{Value: string(paylink.OutcomeUnmatched), Label: "unmatched"},
	{Value: string(paylink.OutcomeUnparsable), Label: "unparsable"},
	{Value: string(paylink.OutcomeDismissed), Label: "dismissed"},
	{Value: db.DeliveryDuplicate, Label: "duplicate"},
	{Value: db.DeliveryRejected, Label: "rejected"},
}

func knownOutcome(outcome string) bool {
	for _, o := range outcomeLabels {
		if o.Value == outcome {
			return true
		}
	}
	return false
}

func outcomeLabel[T ~string](outcome T) string {
	for _, o := range outcomeLabels {
		if o.Value == string(outcome) {
			return o.Label
		}
	}
	return string(outcome)
}

// events lists every webhook delivery, newest first, filtered by outcome
// and type.
func (a *app) events(c echo.Context) error {
	f := db.WebhookFilter{Outcome: c.QueryParam("outcome"), Type: truncate(c.QueryParam("type"), 255), Limit: eventsPerPage}
	if !knownOutcome(f.Outcome) {
		f.Outcome = "" // unknown: show all, and the select says so
	}
	f.Before, _ = strconv.ParseInt(c.QueryParam("before"), 10, 64)
	ctx := c.Request().Context()
	page, err := a.store.ListWebhookDeliveries(ctx, f)
	if err != nil {
		return err
	}
	types, err := a.store.WebhookEventTypes(ctx)
	if err != nil {
		return err
	}
	p := views.EventsPage{
		Layout: a.layout(c, "Webhook events", "events"), Action: a.url(RouteEvents),
		Outcome: f.Outcome, Type: f.Type,
		Outcomes: append([]views.Option{{Value: "", Label: "All outcomes"}}, outcomeLabels...),
	}
	for _, t := range types {
		p.Types = append(p.Types, views.Option{Value: t, Label: paylink.EventName(t) + " (" + t + ")"})
	}
	for _, r := range page.Rows {
		p.Rows = append(p.Rows, a.eventRow(c, r))
	}
	q := url.Values{}
	if f.Outcome != "" {
		q.Set("outcome", f.Outcome)
	}
	if f.Type != "" {
		q.Set("type", f.Type)
	}
	if f.Before > 0 {
		p.FirstURL = a.url(RouteEvents)
		if len(q) > 0 {
			p.FirstURL += "?" + q.Encode()
		}
	}
	if page.HasMore {
		q.Set("before", strconv.FormatInt(page.Rows[len(page.Rows)-1].ID, 10))
		p.NextURL = a.url(RouteEvents) + "?" + q.Encode()
	}
	return a.render(c, http.StatusOK, views.Events(p))
}

func (a *app) eventRow(c echo.Context, r db.WebhookDeliveryRow) views.EventRow {
	row := views.EventRow{DeliveryID: r.ID, Received: when(viewerZone(c), r.ReceivedAt), Type: r.Type, Family: r.Family, IP: r.IP, LinkID: r.LinkID}
	row.Name = paylink.EventName(r.Type)
	switch r.Kind {
	case db.DeliveryRejected:
		row.Name = "Refused: not proven to come from StableMint"
		row.Outcome = db.DeliveryRejected
		row.Detail = "Refused (" + r.Reason + "); nothing kept but the body's SHA-256 " + r.BodySHA256 +
			" (" + strconv.Itoa(r.BodySize) + " bytes)."
	case db.DeliveryDuplicate:
		row.Outcome = db.DeliveryDuplicate
		row.Detail = "Already received: changed nothing. The event itself: " + outcomeLabel(r.Outcome) + "."
	default:
		row.Outcome, row.Detail = string(r.Outcome), r.Detail
	}
	row.OutcomeLabel = outcomeLabel(row.Outcome)
	if r.EventID != 0 {
		row.EventURL = a.url(RouteEvent, r.EventID)
	}
	if r.LinkID != 0 {
		row.LinkURL = a.url(RouteLink, r.LinkID)
	}
	return row
}

// eventParam loads the :id event; a malformed or unknown id is 404.
func (a *app) eventParam(c echo.Context) (db.WebhookEvent, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return db.WebhookEvent{}, echo.NewHTTPError(http.StatusNotFound)
	}
	return a.store.WebhookEventByID(c.Request().Context(), id)
}

func (a *app) event(c echo.Context) error {
	e, err := a.eventParam(c)
	if err != nil {
		return err
	}
	p, err := a.eventPage(c, e)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.Event(p))
}

// eventPage builds an event's page with the actions its outcome allows.
func (a *app) eventPage(c echo.Context, e db.WebhookEvent) (views.EventPage, error) {
	deliveries, err := a.store.WebhookEventDeliveries(c.Request().Context(), e.ID)
	if err != nil {
		return views.EventPage{}, err
	}
	p := views.EventPage{
		Layout: a.layout(c, "Webhook event #"+strconv.FormatInt(e.ID, 10), "events"),
		ID:     e.ID, Key: e.Key, Family: e.Family, Type: e.Type, Name: paylink.EventName(e.Type), Effect: string(e.Effect),
		Outcome: string(e.Outcome), OutcomeLabel: outcomeLabel(e.Outcome), Detail: e.Detail,
		Received: when(viewerZone(c), e.ReceivedAt), Updated: when(viewerZone(c), e.UpdatedAt), LinkID: e.LinkID,
		Body: prettyBody(e.Body), EventsURL: a.url(RouteEvents), ReapplyURL: a.url(RouteEventReapply, e.ID),
	}
	if e.LinkID != 0 {
		p.LinkURL = a.url(RouteLink, e.LinkID)
	}
	ev := ingest.EventData(e.Body) // verified when it arrived; read again for display
	for _, kv := range [][2]string{
		{"idempotencyKey", ev.IdempotencyKey}, {"sessionId", ev.SessionID}, {"reference", ev.DepositReference},
		{"websiteReference", ev.WebsiteReference}, {"amount", strings.TrimSpace(ev.AmountRaw + " " + ev.Currency)},
		{"occurred at", when(viewerZone(c), ev.OccurredAt)},
	} {
		if kv[1] != "" {
			p.Fields = append(p.Fields, views.KV{Key: kv[0], Value: kv[1]})
		}
	}
	for _, d := range deliveries {
		p.Deliveries = append(p.Deliveries, views.EventDelivery{Received: when(viewerZone(c), d.ReceivedAt), Kind: d.Kind, IP: d.IP,
			RequestID: d.RequestID, Timestamp: d.SigTimestamp, Signature: d.Signature})
	}
	switch e.Outcome {
	case paylink.OutcomeUnmatched:
		p.AssignURL, p.DismissURL = a.url(RouteEventAssign, e.ID), a.url(RouteEventDismiss, e.ID)
	case paylink.OutcomeDismissed:
		p.AssignURL = a.url(RouteEventAssign, e.ID)
	case paylink.OutcomeNeedsReview:
		if e.LinkID != 0 {
			p.LeaveURL = a.url(RouteEventLeave, e.ID)
			if e.Effect == paylink.EffectPaid || e.Effect == paylink.EffectSettled {
				p.AcceptURL = a.url(RouteEventAccept, e.ID)
			}
		}
	}
	return p, nil
}

// prettyBody indents a JSON body for reading (json.Indent keeps every
// token, numbers included, exactly as sent); anything else is shown as
// received, with invalid UTF-8 replaced. templ escapes it either way.
func prettyBody(b []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err == nil {
		return buf.String()
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// assignForm is the assign form as submitted.
type assignForm struct {
	Link string `form:"link"`
}

var linkNumberRE = regexp.MustCompile(`^#?([1-9][0-9]{0,17})$`)

// assignEvent applies an unmatched (or dismissed) event to the link the
// admin names, by number or reference, as if it had matched.
func (a *app) assignEvent(c echo.Context) error {
	e, err := a.eventParam(c)
	if err != nil {
		return err
	}
	var f assignForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	ref := strings.TrimSpace(f.Link)
	ctx := c.Request().Context()
	linkID, msg, err := a.resolveLink(c, ref)
	if err != nil {
		return err
	}
	if msg != "" {
		p, err := a.eventPage(c, e)
		if err != nil {
			return err
		}
		p.AssignValue, p.Errors = truncate(ref, 255), views.FieldErrors{"link": msg}
		return a.render(c, http.StatusUnprocessableEntity, views.Event(p))
	}
	act, err := a.store.AssignWebhookEvent(ctx, e.ID, linkID, ingest.EventData(e.Body), a.auditEntry(c, "webhook.assign"))
	if err != nil {
		return err
	}
	if err := a.flash(c, "ok", "Assigned to link #"+strconv.FormatInt(linkID, 10)+" ("+outcomeLabel(act.Outcome)+"): "+act.Detail); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteEvent, e.ID))
}

// resolveLink finds the one link an admin means: a number (42 or #42) that
// is a link's, else a reference exactly one link carries. msg explains a
// miss for the form.
func (a *app) resolveLink(c echo.Context, ref string) (id int64, msg string, err error) {
	ctx := c.Request().Context()
	switch {
	case ref == "":
		return 0, "Enter the link's number, like 42, or one of its references.", nil
	case len(ref) > 255:
		return 0, "That is longer than any link number or reference.", nil
	}
	if m := linkNumberRE.FindStringSubmatch(ref); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		if _, err := a.store.LinkByID(ctx, n); err == nil {
			return n, "", nil
		} else if !errors.Is(err, db.ErrNotFound) {
			return 0, "", err
		}
	}
	ids, err := a.store.LinkIDsByReference(ctx, ref, 10)
	switch {
	case err != nil:
		return 0, "", err
	case len(ids) == 0:
		return 0, "No link has that number or reference.", nil
	case len(ids) > 1:
		return 0, strconv.Itoa(len(ids)) + " links carry that reference; enter the link's number instead.", nil
	}
	return ids[0], "", nil
}

// dismissForm is the dismiss form as submitted.
type dismissForm struct {
	Note string `form:"note"`
}

// dismissEvent sets an unmatched event aside, with an optional note.
func (a *app) dismissEvent(c echo.Context) error {
	e, err := a.eventParam(c)
	if err != nil {
		return err
	}
	var f dismissForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	note := strings.TrimSpace(f.Note)
	if utf8.RuneCountInString(note) > maxDismissNote {
		p, err := a.eventPage(c, e)
		if err != nil {
			return err
		}
		p.Note, p.Errors = note, views.FieldErrors{"note": "Keep the note under " + strconv.Itoa(maxDismissNote) + " characters."}
		return a.render(c, http.StatusUnprocessableEntity, views.Event(p))
	}
	if err := a.store.DismissWebhookEvent(c.Request().Context(), e.ID, note, a.auditEntry(c, "webhook.dismiss")); err != nil {
		return err
	}
	if err := a.flash(c, "ok", "Event dismissed; it changes no link."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteEvent, e.ID))
}

// reapplyEvent applies a stored event again, re-parsed from its body, to
// its link as the link stands now (or to the link matching finds now).
func (a *app) reapplyEvent(c echo.Context) error {
	e, err := a.eventParam(c)
	if err != nil {
		return err
	}
	act, err := a.store.ReapplyWebhookEvent(c.Request().Context(), e.ID, ingest.EventData(e.Body), a.auditEntry(c, "webhook.reapply"))
	if err != nil {
		return err
	}
	if err := a.flash(c, "ok", "Re-applied ("+outcomeLabel(act.Outcome)+"): "+act.Detail); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteEvent, e.ID))
}

// acceptEvent is an admin accepting a flagged payment event as paid.
func (a *app) acceptEvent(c echo.Context) error { return a.resolveReview(c, true) }

// leaveEvent is an admin leaving a flagged event's link as it is.
func (a *app) leaveEvent(c echo.Context) error { return a.resolveReview(c, false) }

func (a *app) resolveReview(c echo.Context, accept bool) error {
	e, err := a.eventParam(c)
	if err != nil {
		return err
	}
	action, done := "webhook.review_leave", "Left as is: the link keeps its status."
	if accept {
		action, done = "webhook.review_accept", "Accepted as paid."
	}
	act, err := a.store.ResolveWebhookReview(c.Request().Context(), e.ID, accept, a.auditEntry(c, action))
	if err != nil {
		return err
	}
	if err := a.flash(c, "ok", done+" See link #"+strconv.FormatInt(act.LinkID, 10)+"."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteEvent, e.ID))
}
