package handlers

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // image.DecodeConfig reads JPEG logos
	_ "image/png"  // and PNG logos
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/views"
)

// The merchant's brand (Settings → Brand): company name, logo, support
// contacts and accent colour, shown on customer pages, in emails and in
// the staff header. The rules for what is accepted are here; the logo's
// bytes live in db/brand.go's table, served by brandLogo.

// Logo limits (issue 17; own pick for the pixel bound).
const (
	maxLogoBytes  = 256 << 10
	maxLogoPixels = 4096 // per side: a tiny PNG may claim a huge canvas
)

// Contrast of the accent colour (WCAG 2 relative luminance).
const (
	// darkBackground is static/css/app.css's --bg in the dark theme
	// (TestDarkBackgroundMatchesTheStylesheet keeps them equal).
	darkBackground = "#11151b"
	// minContrastWhite: white text on the accent (its buttons) and the
	// accent as text on white pages, WCAG 1.4.3.
	minContrastWhite = 4.5
	// minContrastDark: the accent as a fill (buttons, the customer page's
	// band) on the dark theme's background, WCAG 1.4.11 non-text
	// contrast. 4.5:1 here too is impossible together with 4.5:1 against
	// white (no colour reaches more than about 4.3:1 against both), so
	// text on dark pages never uses the accent colour (static/app.css).
	minContrastDark = 3.0
)

// brand is the merchant's brand as pages and emails use it: the saved
// values, or the first-run default for the company name.
type brand struct {
	Company      string
	SupportEmail string
	SupportURL   string
	Accent       string // #rrggbb, or "" for paylinks' own
	Logo         *db.LogoInfo
	Named        bool // the company name was saved in Settings
}

// brandCache keeps the brand between saves: every page shows it. A save
// (this process is the only writer) bumps gen, so a load that raced it
// is not kept.
type brandCache struct {
	mu  sync.Mutex
	gen uint64
	v   *brand
}

func (bc *brandCache) invalidate() {
	bc.mu.Lock()
	bc.gen++
	bc.v = nil
	bc.mu.Unlock()
}

// brand returns the current brand. A failed read is logged and answered
// with the first-run default, so a page still renders.
func (a *app) brand(ctx context.Context) brand {
	bc := &a.brandCache
	bc.mu.Lock()
	if bc.v != nil {
		b := *bc.v
		bc.mu.Unlock()
		return b
	}
	gen := bc.gen
	bc.mu.Unlock()
	b, err := a.loadBrand(ctx)
	if err != nil {
		logFrom(ctx, a.log).Error("read the brand", "err", err)
		return brand{Company: a.opts.CompanyName}
	}
	bc.mu.Lock()
	if bc.gen == gen {
		bc.v = &b
	}
	bc.mu.Unlock()
	return b
}

// brandNow is the brand for code without a request context (email data).
func (a *app) brandNow() brand {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return a.brand(ctx)
}

func (a *app) loadBrand(ctx context.Context) (brand, error) {
	st, err := a.store.GetSettings(ctx)
	if err != nil {
		return brand{}, err
	}
	mb := outbox.BrandOf(st, a.opts.CompanyName)
	b := brand{Company: mb.Company, SupportEmail: mb.SupportEmail, SupportURL: mb.SupportURL, Accent: mb.Accent,
		Named: st.CompanyName != ""}
	info, ok, err := a.store.BrandLogoInfo(ctx)
	if err != nil {
		return brand{}, err
	}
	if ok {
		b.Logo = &info
	}
	return b, nil
}

// viewBrand is the brand for a layout.
func (a *app) viewBrand(b brand) views.Brand {
	v := views.Brand{Company: b.Company, Named: b.Named, SupportEmail: b.SupportEmail, SupportURL: b.SupportURL}
	if b.Logo != nil {
		v.LogoURL = a.url(RouteBrandLogo) + "?v=" + b.Logo.ETag
	}
	if b.Accent != "" {
		v.ThemeURL = a.url(RouteBrandTheme) + "?v=" + strings.TrimPrefix(b.Accent, "#")
	}
	return v
}

// senderName is the customer emails' sender name: the name written in
// PAYLINKS_MAIL_FROM, else the company name.
func (a *app) senderName(b brand) string {
	return b.mail().SenderName(a.opts.MailFrom, a.opts.CompanyName)
}

// sender is the customer emails' From address.
func (a *app) sender(b brand) mail.Address {
	return mail.Address{Name: a.senderName(b), Email: a.opts.MailFrom.Email}
}

// mail is the brand as emails carry it.
func (b brand) mail() mail.Brand {
	return mail.Brand{Company: b.Company, SupportEmail: b.SupportEmail, SupportURL: b.SupportURL, Accent: b.Accent}
}

// brandMailData fills the brand's placeholders.
func brandMailData(d mail.Data, b brand) mail.Data { return b.mail().Apply(d) }

// --- serving ---

// brandLogo serves the logo: its stored content type, an etag, nosniff,
// and a CSP under which an SVG opened on its own runs nothing and loads
// nothing. A URL carrying the current etag (?v=) is cached for a year;
// otherwise the browser revalidates.
func (a *app) brandLogo(c echo.Context) error {
	l, err := a.store.BrandLogo(c.Request().Context())
	if errors.Is(err, db.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	} else if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	return serveCacheable(c, l.ETag, l.ContentType, l.Data)
}

// brandTheme is the stylesheet that carries the accent colour to customer
// pages (the CSP allows no inline style). The colour was validated when
// saved and is checked again here before it is written into CSS.
func (a *app) brandTheme(c echo.Context) error {
	accent := a.brand(c.Request().Context()).Accent
	if _, err := parseHexColor(accent); err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	css := ":root { --brand-accent: " + accent + "; --brand-accent-text: #ffffff; }\n"
	return serveCacheable(c, strings.TrimPrefix(accent, "#"), "text/css; charset=utf-8", []byte(css))
}

func serveCacheable(c echo.Context, etag, contentType string, body []byte) error {
	h := c.Response().Header()
	quoted := `"` + etag + `"`
	h.Set("ETag", quoted)
	if c.QueryParam("v") == etag {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	for _, t := range strings.Split(c.Request().Header.Get("If-None-Match"), ",") {
		if t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/")); t == quoted || t == "*" {
			return c.NoContent(http.StatusNotModified)
		}
	}
	return c.Blob(http.StatusOK, contentType, body)
}

// --- the settings form's brand fields ---

// brandInput is the brand part of the settings form as posted.
type brandInput struct {
	Company, SupportEmail, SupportURL, Accent string
	RemoveLogo                                bool
	Logo                                      *db.Logo // a checked new logo, or nil
	LogoChosen                                bool     // a file was posted (checked or not)
}

// parseBrand reads and checks the brand fields, putting each problem in
// errs under its field; a field the form does not carry at all keeps its
// saved value (the settings page always sends them all). The logo's
// content decides its type, never its name or the browser's content type.
func parseBrand(c echo.Context, form url.Values, old db.Settings, errs views.FieldErrors) brandInput {
	get := func(k, saved string) string {
		if !form.Has(k) {
			return saved
		}
		return strings.TrimSpace(form.Get(k))
	}
	in := brandInput{Company: get("companyName", old.CompanyName), SupportEmail: get("supportEmail", old.SupportEmail),
		SupportURL: get("supportPageUrl", old.SupportPageURL), Accent: strings.ToLower(get("accentColor", old.AccentColor)),
		RemoveLogo: form.Get("removeLogo") != ""}
	if !form.Has("companyName") && old.CompanyName == "" {
		in.Company = "" // never saved, and not on this form: stays unsaved (the first-run default)
	} else if in.Company == "" {
		errs["companyName"] = "Enter your company name: customers see it on their pages and in emails."
	}
	if err := mail.CheckHeader(in.Company, mail.MaxNameLength); err != nil && in.Company != "" {
		errs["companyName"] = headerMessage(err, "the company name", mail.MaxNameLength)
	}
	if in.SupportEmail != "" {
		if _, err := mail.ParseAddress(in.SupportEmail); err != nil {
			errs["supportEmail"] = "Enter one email address, like help@example.com, or leave empty."
		}
	}
	if in.SupportURL != "" {
		if msg := checkHTTPSURL(in.SupportURL); msg != "" {
			errs["supportPageUrl"] = msg
		}
	}
	if in.Accent != "" {
		if msg := checkAccent(in.Accent); msg != "" {
			errs["accentColor"] = msg
		}
	}
	fh, err := c.FormFile("logo")
	switch {
	case errors.Is(err, http.ErrMissingFile), errors.Is(err, http.ErrNotMultipart):
	case err != nil:
		errs["logo"] = "The logo could not be read; choose the file again."
		in.LogoChosen = true
	case fh.Filename == "" && fh.Size == 0:
		// The file input left empty.
	default:
		in.LogoChosen = true
		logo, msg := readLogo(fh)
		if msg != "" {
			errs["logo"] = msg
		} else {
			in.Logo = &logo
		}
	}
	return in
}

// checkHTTPSURL accepts an absolute https URL with a host.
func checkHTTPSURL(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(v, " \r\n\t") {
		return "Enter an https address, like https://example.com/help, or leave empty."
	}
	return ""
}

func readLogo(fh *multipart.FileHeader) (db.Logo, string) {
	if fh.Size > maxLogoBytes {
		return db.Logo{}, logoTooLarge(fh.Size)
	}
	f, err := fh.Open()
	if err != nil {
		return db.Logo{}, "The logo could not be read; choose the file again."
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLogoBytes+1))
	if err != nil {
		return db.Logo{}, "The logo could not be read; choose the file again."
	}
	if len(data) > maxLogoBytes {
		return db.Logo{}, logoTooLarge(int64(len(data)))
	}
	ct, msg := checkLogo(data)
	return db.Logo{ContentType: ct, Data: data}, msg
}

func logoTooLarge(n int64) string {
	return fmt.Sprintf("The logo is %d KiB; it can be at most 256 KiB.", (n+1023)/1024)
}

// checkLogo says what data is (its content type) or why it is refused:
// a PNG or JPEG whose header decodes, or an SVG that checkSVG accepts.
func checkLogo(data []byte) (contentType, msg string) {
	if len(data) == 0 {
		return "", "The file is empty; choose a PNG, JPEG or SVG image."
	}
	if cfg, format, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
		if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxLogoPixels || cfg.Height > maxLogoPixels {
			return "", fmt.Sprintf("The logo is %d×%d pixels; it can be at most %d×%d.", cfg.Width, cfg.Height, maxLogoPixels, maxLogoPixels)
		}
		switch format {
		case "png":
			return "image/png", ""
		case "jpeg":
			return "image/jpeg", ""
		}
	}
	if looksLikeXML(data) {
		if err := checkSVG(data); errors.Is(err, errNotSVG) {
			return "", "That file is not a PNG, JPEG or SVG image; choose one of those."
		} else if err != nil {
			return "", "The SVG logo was refused: " + err.Error() + "."
		}
		return "image/svg+xml", ""
	}
	return "", "That file is not a PNG, JPEG or SVG image; choose one of those."
}

// looksLikeXML reports whether data starts, after a byte order mark and
// white space, with '<'.
func looksLikeXML(data []byte) bool {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && data[0] == '<'
}

// svgRefusedElements run script or embed another document.
var svgRefusedElements = map[string]string{
	"script": "it contains a script", "foreignobject": "it contains a foreignObject",
	"iframe": "it embeds another document", "embed": "it embeds another document", "object": "it embeds another document",
	"handler": "it contains a script", "listener": "it contains a script",
}

// cssURL finds url(...) in CSS; only url(#id) is allowed.
var cssURL = regexp.MustCompile(`(?i)url\(\s*(['"]?)\s*([^'")\s]*)`)

// errNotSVG: the file is some other XML or HTML.
var errNotSVG = errors.New("not an SVG image")

var sameDocRef = regexp.MustCompile(`^#[A-Za-z_][A-Za-z0-9_.:-]*$`)

// checkSVG refuses an SVG that could run script or load anything: a
// document type (entities), processing instructions other than the XML
// declaration, script, foreignObject and embedding elements, event-handler
// attributes, a link anywhere but the same document (#id), url() to
// anything but #id, @import, and CSS escapes (which could hide either).
// The root element must be <svg>. The SVG is kept as uploaded or refused,
// never rewritten.
func checkSVG(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.Entity = nil
	depth, roots := 0, 0
	inStyle := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if roots == 0 {
				return errNotSVG
			}
			return errors.New("it is not well-formed XML")
		}
		switch t := tok.(type) {
		case xml.Directive:
			// <!DOCTYPE svg PUBLIC …> as editors write it is harmless (a
			// DTD is never fetched); an internal subset can declare
			// entities (an entity bomb) and is refused.
			if dir := strings.TrimSpace(string(t)); !strings.HasPrefix(dir, "DOCTYPE") || strings.ContainsAny(dir, "[<") || depth > 0 {
				return errors.New("it has entity declarations or other markup declarations")
			}
		case xml.ProcInst:
			if t.Target != "xml" {
				return errors.New("it has a processing instruction (" + t.Target + ")")
			}
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			if depth == 0 {
				roots++
				if name != "svg" || roots > 1 {
					return errNotSVG
				}
			}
			depth++
			if why, ok := svgRefusedElements[name]; ok {
				return errors.New(why)
			}
			if name == "style" {
				inStyle++
			}
			for _, at := range t.Attr {
				if err := checkSVGAttr(at); err != nil {
					return err
				}
			}
		case xml.EndElement:
			depth--
			if strings.EqualFold(t.Name.Local, "style") && inStyle > 0 {
				inStyle--
			}
		case xml.CharData:
			if inStyle > 0 {
				if err := checkSVGCSS(string(t)); err != nil {
					return err
				}
			}
		}
	}
	if roots == 0 {
		return errNotSVG
	}
	return nil
}

func checkSVGAttr(at xml.Attr) error {
	local := strings.ToLower(at.Name.Local)
	v := strings.TrimSpace(at.Value)
	switch {
	case strings.HasPrefix(local, "on"):
		return fmt.Errorf("it has an event handler (%s)", at.Name.Local)
	case local == "href" || local == "src" || local == "action" || local == "formaction":
		if !sameDocRef.MatchString(v) {
			return fmt.Errorf("it links to something outside the image (%s=%q); only links within it (#id) are allowed", attrName(at), truncate(v, 60))
		}
	case local == "base" && strings.EqualFold(at.Name.Space, "http://www.w3.org/XML/1998/namespace"), local == "xml:base":
		return errors.New("it sets xml:base")
	case local == "attributename" && (strings.Contains(strings.ToLower(v), "href") || strings.HasPrefix(strings.ToLower(v), "on")):
		return errors.New("it animates a link or an event handler")
	}
	if strings.Contains(strings.ToLower(v), "javascript:") {
		return fmt.Errorf("it has a javascript: address (%s)", attrName(at))
	}
	if strings.Contains(strings.ToLower(v), "url(") || local == "style" {
		return checkSVGCSS(v)
	}
	return nil
}

func attrName(at xml.Attr) string {
	if at.Name.Space == "http://www.w3.org/1999/xlink" || at.Name.Space == "xlink" {
		return "xlink:" + at.Name.Local
	}
	return at.Name.Local
}

func checkSVGCSS(css string) error {
	low := strings.ToLower(css)
	switch {
	case strings.Contains(css, `\`):
		return errors.New("its CSS has escapes")
	case strings.Contains(low, "@import"):
		return errors.New("its CSS imports another file")
	case strings.Contains(low, "expression("), strings.Contains(low, "javascript:"):
		return errors.New("its CSS has script")
	}
	for _, m := range cssURL.FindAllStringSubmatch(css, -1) {
		if !sameDocRef.MatchString(m[2]) {
			return fmt.Errorf("its CSS loads something outside the image (url(%s)); only url(#id) is allowed", truncate(m[2], 60))
		}
	}
	return nil
}

// --- the accent colour ---

var hexColor = regexp.MustCompile(`^#[0-9a-f]{6}$`)

// parseHexColor reads #rrggbb (lower case).
func parseHexColor(s string) ([3]uint8, error) {
	if !hexColor.MatchString(s) {
		return [3]uint8{}, errors.New("not #rrggbb")
	}
	v, _ := strconv.ParseUint(s[1:], 16, 32)
	return [3]uint8{uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}

// relativeLuminance is WCAG 2's relative luminance of an sRGB colour.
func relativeLuminance(c [3]uint8) float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c[0]) + 0.7152*lin(c[1]) + 0.0722*lin(c[2])
}

// contrastRatio is WCAG 2's contrast ratio of two colours (1 to 21).
func contrastRatio(a, b [3]uint8) float64 {
	la, lb := relativeLuminance(a), relativeLuminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// formatRatio shows a ratio rounded down to one decimal, so a refused
// colour never shows the number it needed ("4.49" is "4.4", not "4.5").
func formatRatio(r float64) string {
	return strconv.FormatFloat(math.Floor(r*10)/10, 'f', 1, 64) + ":1"
}

// checkAccent accepts #rrggbb with enough contrast against white and
// against the dark theme's background, or says why not, with the ratio.
func checkAccent(v string) string {
	c, err := parseHexColor(v)
	if err != nil {
		return "Enter a colour as # and six hexadecimal digits, like #1f5fbf, or leave empty."
	}
	white := [3]uint8{255, 255, 255}
	if r := contrastRatio(c, white); r < minContrastWhite {
		return fmt.Sprintf("The accent colour %s has a contrast of %s against white; it needs at least %s.", v, formatRatio(r), formatRatio(minContrastWhite))
	}
	dark, _ := parseHexColor(darkBackground)
	if r := contrastRatio(c, dark); r < minContrastDark {
		return fmt.Sprintf("The accent colour %s has a contrast of %s against the dark theme's background (%s); it needs at least %s. Choose a lighter shade.",
			v, formatRatio(r), darkBackground, formatRatio(minContrastDark))
	}
	return ""
}
