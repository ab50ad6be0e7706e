package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// FormatMoney writes an amount as the pages do (€1,250.00), for the
// services that write emails outside a request (reminders, staff
// notifications); app passes it to them.
func FormatMoney(minor int64, currency string) string { return formatMoney(minor, currency) }

// maxTeamAddresses bounds the team notification list (own pick).
const maxTeamAddresses = 20

// reminderValues are a rule's form fields, names prefixed.
func reminderValues(prefix string, r db.ReminderRule) map[string]string {
	on := func(b bool) string {
		if b {
			return "on"
		}
		return ""
	}
	return map[string]string{
		prefix + "beforeOn": on(r.BeforeExpiry), prefix + "beforeHours": strconv.Itoa(r.BeforeHours),
		prefix + "afterOn": on(r.AfterEmail), prefix + "afterDays": strconv.Itoa(r.AfterDays),
		prefix + "max": strconv.Itoa(r.Max),
	}
}

// parseReminderRule reads a rule from the form (names prefixed), keeps the
// fields as typed in values for showing the form again, and puts each
// field's problem in errs.
func parseReminderRule(form url.Values, prefix string, values map[string]string, errs views.FieldErrors) db.ReminderRule {
	var r db.ReminderRule
	r.BeforeExpiry = form.Get(prefix+"beforeOn") == "on"
	r.AfterEmail = form.Get(prefix+"afterOn") == "on"
	num := func(name string, dst *int) {
		v := strings.TrimSpace(form.Get(prefix + name))
		values[prefix+name] = v
		n, err := strconv.Atoi(v)
		if err != nil {
			errs[prefix+name] = "Enter a whole number."
			return
		}
		*dst = n
	}
	values[prefix+"beforeOn"], values[prefix+"afterOn"] = form.Get(prefix+"beforeOn"), form.Get(prefix+"afterOn")
	num("beforeHours", &r.BeforeHours)
	num("afterDays", &r.AfterDays)
	num("max", &r.Max)
	for field, msg := range r.Validate() {
		if _, taken := errs[prefix+field]; !taken {
			errs[prefix+field] = msg
		}
	}
	return r
}

// parseTeam reads the team addresses: one a line (commas work too), each a
// plain address, no repeats.
func parseTeam(raw string, errs views.FieldErrors) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(raw, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ';' }) {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		addr, err := mail.ParseAddress(f)
		if err != nil {
			errs["notifyTeam"] = fmt.Sprintf("%q is not one email address like team@example.com.", f)
			continue
		}
		if !seen[strings.ToLower(addr)] {
			seen[strings.ToLower(addr)] = true
			out = append(out, addr)
		}
	}
	if len(out) > maxTeamAddresses {
		errs["notifyTeam"] = fmt.Sprintf("Enter at most %d addresses.", maxTeamAddresses)
	}
	return out
}

// reminderSettingsValues are the settings form's reminder and team fields.
func reminderSettingsValues(st db.Settings) map[string]string {
	v := reminderValues("reminder.", st.ReminderRule())
	v["notifyTeam"] = strings.Join(st.NotifyTeam, "\n")
	return v
}

// reminderPanel builds the link page's reminders section
// (views.LinkReminders) for the signed-in user.
func (a *app) reminderPanel(c echo.Context, l db.Link) (views.LinkRemindersPanel, error) {
	ctx := c.Request().Context()
	rs, err := a.store.LinkReminders(ctx, l.ID)
	if err != nil {
		return views.LinkRemindersPanel{}, err
	}
	st, err := a.store.GetSettings(ctx)
	if err != nil {
		return views.LinkRemindersPanel{}, err
	}
	p := views.LinkRemindersPanel{
		CSRF: csrfToken(c), Own: rs.Override != nil, Rule: rs.Rule.Describe(), Settings: st.ReminderRule().Describe(),
		Sent: rs.Sent, Max: rs.Rule.Max, Values: reminderValues("", rs.Rule),
	}
	switch {
	case !rs.RemindAt.IsZero():
		p.Next = when(viewerZone(c), rs.RemindAt) + " (" + relative(rs.RemindAt, a.now()) + ")"
	case l.Status != paylink.StatusOpen:
		p.Status = "The link is " + string(l.Status) + "."
	case rs.FirstEmailedAt.IsZero():
		p.Status = "Reminders start once the link is emailed to the customer."
	default:
		p.Status = "No reminder left under this rule."
	}
	if hasRole(c, paylink.RoleFinance) {
		p.Action = a.url(RouteLinkReminders, l.ID)
	}
	if f, ok := c.Get(reminderFormKey).(refusedReminderForm); ok {
		p.Own, p.Values, p.Errors = true, f.values, f.errs
	}
	return p, nil
}

// saveLinkReminders gives a link its own reminder rule (mode=own) or puts
// it back on the settings' (mode=settings), audited and on the timeline;
// a refused rule comes back as a message at the top of the link page.
func (a *app) saveLinkReminders(c echo.Context) error {
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	back := a.url(RouteLink, l.ID) + "#reminders"
	var override *db.ReminderRule
	switch form.Get("mode") {
	case "settings":
	case "own":
		errs, typed := views.FieldErrors{}, map[string]string{}
		r := parseReminderRule(form, "", typed, errs)
		if len(errs) > 0 {
			// The link page again, the form open with each message by its
			// field and everything typed (reminderPanel reads them).
			c.Set(reminderFormKey, refusedReminderForm{values: typed, errs: errs})
			return a.renderLink(c, l, http.StatusUnprocessableEntity, nil, "Reminders not saved: correct the fields marked below.")
		}
		override = &r
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "mode must be settings or own")
	}
	if err := a.store.SetLinkReminders(c.Request().Context(), l.ID, override, currentUser(c).ID, a.auditEntry(c, "link.reminders")); err != nil {
		return err
	}
	if err := a.flash(c, "ok", "Reminders saved."); err != nil {
		return err
	}
	return a.redirect(c, back)
}

// reminderFormKey carries a refused reminder form from saveLinkReminders
// to reminderPanel, through the request's context.
const reminderFormKey = "paylinks.reminderForm"

type refusedReminderForm struct {
	values map[string]string
	errs   views.FieldErrors
}

// saveNotify stores the signed-in user's notification choice.
func (a *app) saveNotify(c echo.Context) error {
	choice := c.FormValue("notify")
	if !db.ValidNotify(choice) {
		return echo.NewHTTPError(http.StatusBadRequest, "notify must be immediate, digest or off")
	}
	if err := a.store.SetNotifyPreference(c.Request().Context(), currentUser(c).ID, choice, a.auditEntry(c, "user.notify")); err != nil {
		return err
	}
	msg := map[string]string{db.NotifyImmediate: "You will be emailed at once about your links.",
		db.NotifyDigest: "You will get one email a day about your links.", db.NotifyOff: "You will not be emailed about your links."}[choice]
	if err := a.flash(c, "ok", msg); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteAccount))
}
