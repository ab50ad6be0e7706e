package handlers

import (
	"net/http"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the zone database, for hosts (and containers) without one

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/views"
)

// when formats a time for staff in loc: views.When, the one format.
func when(loc *time.Location, t time.Time) string { return views.When(loc, t) }

// zoneName is the saved zone's name, "UTC" when none was saved.
func zoneName(name string) string {
	if name == "" {
		return "UTC"
	}
	return name
}

// viewerZone is the signed-in user's time zone; UTC for anyone else.
func viewerZone(c echo.Context) *time.Location {
	if u := currentUser(c); u != nil {
		return zoneOf(u.TimeZone)
	}
	return time.UTC
}

var zoneCache sync.Map // name → *time.Location

// zoneOf loads an IANA zone once; a name the zone database does not know
// (one saved before a tzdata change, say) reads as UTC.
func zoneOf(name string) *time.Location {
	if name == "" || name == "UTC" {
		return time.UTC
	}
	if l, ok := zoneCache.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := loadZone(name)
	if err != nil {
		return time.UTC
	}
	zoneCache.Store(name, l)
	return l
}

// loadZone accepts an IANA zone name ("Europe/Berlin", "UTC"), and
// nothing time.LoadLocation would read as a file path or as Local.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > 64 || strings.HasPrefix(name, "/") || strings.Contains(name, "..") ||
		strings.ContainsAny(name, "\\ ") {
		return nil, errUnknownZone
	}
	return time.LoadLocation(name)
}

var errUnknownZone = echo.NewHTTPError(http.StatusUnprocessableEntity, "unknown time zone")

// commonZones are offered in the account page's list; any other IANA name
// may be typed.
var commonZones = []string{
	"UTC",
	"Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Amsterdam",
	"Europe/Brussels", "Europe/Luxembourg", "Europe/Zurich", "Europe/Vienna", "Europe/Madrid", "Europe/Rome",
	"Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen", "Europe/Helsinki", "Europe/Warsaw", "Europe/Prague",
	"Europe/Budapest", "Europe/Athens", "Europe/Bucharest", "Europe/Istanbul", "Europe/Kyiv", "Europe/Moscow",
	"Africa/Lagos", "Africa/Cairo", "Africa/Johannesburg", "Africa/Nairobi",
	"Asia/Dubai", "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok", "Asia/Jakarta", "Asia/Singapore",
	"Asia/Hong_Kong", "Asia/Shanghai", "Asia/Manila", "Asia/Seoul", "Asia/Tokyo",
	"Australia/Perth", "Australia/Brisbane", "Australia/Sydney", "Pacific/Auckland",
	"America/St_Johns", "America/Halifax", "America/New_York", "America/Toronto", "America/Chicago",
	"America/Mexico_City", "America/Denver", "America/Phoenix", "America/Los_Angeles", "America/Anchorage",
	"Pacific/Honolulu", "America/Bogota", "America/Lima", "America/Santiago", "America/Sao_Paulo",
	"America/Argentina/Buenos_Aires",
}

// saveTimeZone stores the zone the user sees times in.
func (a *app) saveTimeZone(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("time_zone"))
	if _, err := loadZone(name); err != nil {
		p, err := a.accountPage(c, views.FieldErrors{"time_zone": "Choose a time zone from the list, such as Europe/Berlin or America/New_York."})
		if err != nil {
			return err
		}
		p.Zone.Value = name
		return a.render(c, http.StatusUnprocessableEntity, views.Account(p))
	}
	u := currentUser(c)
	if err := a.store.SetTimeZone(c.Request().Context(), u.ID, name, a.auditEntry(c, "user.time_zone")); err != nil {
		return err
	}
	u.TimeZone = name
	if err := a.flash(c, "ok", "Times are now shown in "+name+": "+when(zoneOf(name), a.now())+"."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteAccount))
}
