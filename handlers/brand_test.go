package handlers_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/paylink"
)

// brandForm is what the settings page posts: every field it renders, as
// rendered, then the test's changes, and optionally a logo file.
func (b *browser) settingsFields() url.Values {
	b.t.Helper()
	p := b.get("/admin/settings")
	if p.status() != http.StatusOK {
		b.t.Fatalf("GET settings: %d", p.status())
	}
	form := url.Values{}
	p.find(`form input[name]`).Each(func(_ int, s *goquerySelection) {
		name, _ := s.Attr("name")
		if typ, _ := s.Attr("type"); typ == "file" || typ == "checkbox" {
			return
		}
		v, _ := s.Attr("value")
		form.Set(name, v)
	})
	p.find(`form select[name]`).Each(func(_ int, s *goquerySelection) {
		name, _ := s.Attr("name")
		v, _ := s.Find("option[selected]").Attr("value")
		form.Set(name, v)
	})
	return form
}

type upload struct {
	name, contentType string
	data              []byte
}

// postSettings posts the settings form as multipart/form-data.
func (b *browser) postSettings(form url.Values, logo *upload) page {
	b.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, vs := range form {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	if logo != nil {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="logo"; filename="` + logo.name + `"`}
		h["Content-Type"] = []string{logo.contentType}
		part, err := w.CreatePart(h)
		if err != nil {
			b.t.Fatal(err)
		}
		_, _ = part.Write(logo.data)
	}
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+"/admin/settings", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return b.do(req)
}

func brandAdmin(t *testing.T, opts ...envOption) (*env, *browser) {
	t.Helper()
	e := newEnv(t, opts...)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	b := e.browser()
	b.login("admin@example.com")
	return e, b
}

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, x%h, color.RGBA{R: 0x1f, G: 0x5f, B: 0xbf, A: 0xff})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const cleanSVG = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 120 40" width="120" height="40">
  <defs><linearGradient id="g"><stop offset="0" stop-color="#1f5fbf"/><stop offset="1" stop-color="#0b3d80"/></linearGradient>
  <style>.t { font: bold 20px sans-serif; fill: url(#g); }</style></defs>
  <rect width="40" height="40" rx="8" style="fill: url('#g')"/>
  <use xlink:href="#g"/>
  <text x="48" y="27" class="t">Acme</text>
</svg>`

// Each refused logo comes back with its message beside the logo field,
// every typed value kept, and nothing saved.
func TestBrandLogoRefusedBesideTheField(t *testing.T) {
	e, b := brandAdmin(t)
	svg := func(inner string) []byte {
		return []byte(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10">` + inner + `</svg>`)
	}
	bigPNG := append(testPNG(t, 4, 4), bytes.Repeat([]byte{0}, 256<<10)...)
	cases := []struct {
		name string
		file upload
		want string
	}{
		{"text named .png", upload{"logo.png", "image/png", []byte("just some text")}, "not a PNG, JPEG or SVG"},
		{"HTML named .png", upload{"logo.png", "image/png", []byte("<html><script>alert(1)</script></html>")}, "not a PNG, JPEG or SVG"},
		{"GIF", upload{"logo.gif", "image/gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")}, "not a PNG, JPEG or SVG"},
		{"too large", upload{"logo.png", "image/png", bigPNG}, "at most 256 KiB"},
		{"huge canvas", upload{"logo.png", "image/png", testPNG(t, 5000, 1)}, "at most 4096×4096"},
		{"script", upload{"logo.svg", "image/svg+xml", svg(`<script>alert(1)</script>`)}, "contains a script"},
		{"onload", upload{"logo.svg", "image/svg+xml", svg(`<rect width="1" height="1" onload="alert(1)"/>`)}, "event handler (onload)"},
		{"onload on the root", upload{"logo.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onLoad="alert(1)"/>`)}, "event handler"},
		{"external xlink:href", upload{"logo.svg", "image/svg+xml", svg(`<image xlink:href="https://evil.example/x.png" width="1" height="1"/>`)}, "xlink:href"},
		{"external href", upload{"logo.svg", "image/svg+xml", svg(`<a href="javascript:alert(1)"><rect width="1" height="1"/></a>`)}, "outside the image"},
		{"foreignObject", upload{"logo.svg", "image/svg+xml", svg(`<foreignObject><p xmlns="http://www.w3.org/1999/xhtml">hi</p></foreignObject>`)}, "foreignObject"},
		{"url(http) in style", upload{"logo.svg", "image/svg+xml", svg(`<rect style="fill: url(http://evil.example/p.svg#x)"/>`)}, "url(http://evil.example"},
		{"url(http) in a stylesheet", upload{"logo.svg", "image/svg+xml", svg(`<style>rect { fill: url("https://evil.example/a") }</style>`)}, "outside the image"},
		{"url(http) in an attribute", upload{"logo.svg", "image/svg+xml", svg(`<rect filter="url(https://evil.example/f)"/>`)}, "outside the image"},
		{"@import", upload{"logo.svg", "image/svg+xml", svg(`<style>@import "https://evil.example/a.css";</style>`)}, "imports"},
		{"CSS escapes", upload{"logo.svg", "image/svg+xml", svg(`<style>rect { fill: u\72l(https://evil.example/a) }</style>`)}, "escapes"},
		{"entity bomb", upload{"logo.svg", "image/svg+xml", []byte(`<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>`)}, "entity declarations"},
		{"stylesheet instruction", upload{"logo.svg", "image/svg+xml", []byte(`<?xml-stylesheet href="https://evil.example/a.css"?><svg xmlns="http://www.w3.org/2000/svg"/>`)}, "processing instruction"},
		{"animated href", upload{"logo.svg", "image/svg+xml", svg(`<a><set attributeName="href" to="javascript:alert(1)"/></a>`)}, "animates"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := b.settingsFields()
			form.Set("companyName", "Acme Ltd")
			form.Set("supportEmail", "help@acme.example")
			form.Set("supportPageUrl", "https://acme.example/help")
			form.Set("accentColor", "#1f5fbf")
			file := tc.file
			p := b.postSettings(form, &file)
			if p.status() != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", p.status())
			}
			msg := p.find(`[data-testid=form-error][data-field=logo]`).Text()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("logo message %q, want it to say %q", msg, tc.want)
			}
			if p.find(`[data-testid=form-error]`).Length() != 1 {
				t.Errorf("other fields got messages: %s", p.find(`[data-testid=form-error]`).Text())
			}
			for name, want := range map[string]string{"companyName": "Acme Ltd", "supportEmail": "help@acme.example", "supportPageUrl": "https://acme.example/help", "accentColor": "#1f5fbf"} {
				if v, _ := p.find(`input[name="` + name + `"]`).Attr("value"); v != want {
					t.Errorf("%s not kept: %q", name, v)
				}
			}
			if inv, _ := p.find(`input[name=logo]`).Attr("aria-invalid"); inv != "true" {
				t.Error("logo input not marked invalid")
			}
		})
	}
	if _, ok, _ := e.store.BrandLogoInfo(context.Background()); ok {
		t.Error("a refused logo was stored")
	}
	if st, _ := e.store.GetSettings(context.Background()); st.CompanyName != "" {
		t.Errorf("settings saved despite the refused logo: %+v", st)
	}
}

// A PNG and a clean SVG are accepted by content, stored, shown, served
// with their type, etag, nosniff and the sandboxing CSP, and removable.
func TestBrandLogoAcceptedServedAndRemoved(t *testing.T) {
	e, b := brandAdmin(t)
	ctx := context.Background()
	for _, tc := range []struct {
		file   upload
		wantCT string
	}{
		{upload{"logo.bin", "application/octet-stream", testPNG(t, 120, 40)}, "image/png"},
		{upload{"logo.svg", "image/svg+xml", []byte(cleanSVG)}, "image/svg+xml"},
	} {
		form := b.settingsFields()
		form.Set("companyName", "Acme Ltd")
		file := tc.file
		p := b.postSettings(form, &file)
		if p.status() != http.StatusSeeOther {
			t.Fatalf("%s: status %d: %s", tc.wantCT, p.status(), p.find(`[data-testid=form-error]`).Text())
		}
		info, ok, err := e.store.BrandLogoInfo(ctx)
		if err != nil || !ok || info.ContentType != tc.wantCT || info.Size != len(tc.file.data) {
			t.Fatalf("stored %+v %v %v", info, ok, err)
		}
		src, _ := b.get("/admin/settings").find(`[data-testid=logo-preview]`).Attr("src")
		if src != "/brand/logo?v="+info.ETag {
			t.Errorf("settings page logo src %q", src)
		}

		anon := e.browser()
		r := anon.get(src)
		h := r.resp.Header
		if r.status() != http.StatusOK || h.Get("Content-Type") != tc.wantCT || r.body != string(tc.file.data) {
			t.Fatalf("GET logo: %d %q", r.status(), h.Get("Content-Type"))
		}
		if h.Get("ETag") != `"`+info.ETag+`"` || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Content-Security-Policy") != "default-src 'none'; style-src 'unsafe-inline'" ||
			!strings.Contains(h.Get("Cache-Control"), "immutable") || h.Get("Set-Cookie") != "" {
			t.Errorf("logo headers %v", h)
		}
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/brand/logo", nil)
		req.Header.Set("If-None-Match", `"`+info.ETag+`"`)
		if r := anon.do(req); r.status() != http.StatusNotModified {
			t.Errorf("If-None-Match: %d", r.status())
		}
		if r := anon.get("/brand/logo"); !strings.Contains(r.resp.Header.Get("Cache-Control"), "no-cache") {
			t.Errorf("an unversioned logo URL is cached without revalidation: %q", r.resp.Header.Get("Cache-Control"))
		}
	}

	// Saving other settings keeps the logo; ticking Remove removes it.
	form := b.settingsFields()
	form.Set("companyName", "Acme Group")
	if p := b.postSettings(form, nil); p.status() != http.StatusSeeOther {
		t.Fatalf("save: %d", p.status())
	}
	if _, ok, _ := e.store.BrandLogoInfo(ctx); !ok {
		t.Fatal("logo lost by a save without a file")
	}
	form.Set("removeLogo", "on")
	if p := b.postSettings(form, nil); p.status() != http.StatusSeeOther {
		t.Fatalf("remove: %d", p.status())
	}
	if _, ok, _ := e.store.BrandLogoInfo(ctx); ok {
		t.Fatal("logo not removed")
	}
	if r := e.browser().get("/brand/logo"); r.status() != http.StatusNotFound {
		t.Errorf("removed logo: %d", r.status())
	}
	if b.get("/pay/success").find(`img`).Length() != 0 {
		t.Error("customer page still shows a removed logo")
	}

	entries, _ := e.store.ListAudit(ctx, 50)
	var sets, removes int
	for _, en := range entries {
		if en.Action == "settings.logo" && strings.HasPrefix(en.Details, "set: ") {
			sets++
		}
		if en.Action == "settings.logo" && en.Details == "removed" {
			removes++
		}
	}
	if sets != 2 || removes != 1 {
		t.Errorf("logo audit: %d sets, %d removals", sets, removes)
	}
}

// An accent colour with too little contrast is refused with its ratio;
// the other values stay.
func TestBrandAccentContrastRefusedWithTheRatio(t *testing.T) {
	_, b := brandAdmin(t)
	for colour, want := range map[string]string{
		"#ffee00": "The accent colour #ffee00 has a contrast of 1.2:1 against white; it needs at least 4.5:1.",
		"#777777": "The accent colour #777777 has a contrast of 4.4:1 against white; it needs at least 4.5:1.",
		"#0b3d80": "The accent colour #0b3d80 has a contrast of 1.7:1 against the dark theme's background (#11151b); it needs at least 3.0:1.",
		"blue":    "Enter a colour as # and six hexadecimal digits",
		"#12345":  "Enter a colour as # and six hexadecimal digits",
	} {
		form := b.settingsFields()
		form.Set("companyName", "Acme Ltd")
		form.Set("accentColor", colour)
		p := b.postSettings(form, nil)
		if p.status() != http.StatusUnprocessableEntity {
			t.Fatalf("%s: status %d", colour, p.status())
		}
		if msg := p.find(`[data-testid=form-error][data-field=accentColor]`).Text(); !strings.Contains(msg, want) {
			t.Errorf("%s: message %q, want %q", colour, msg, want)
		}
		if v, _ := p.find(`input[name=companyName]`).Attr("value"); v != "Acme Ltd" {
			t.Errorf("company name not kept: %q", v)
		}
	}
	form := b.settingsFields()
	form.Set("companyName", "Acme Ltd")
	form.Set("accentColor", "#1F5FBF")
	if p := b.postSettings(form, nil); p.status() != http.StatusSeeOther {
		t.Fatalf("good colour refused: %s", p.find(`[data-testid=form-error]`).Text())
	}
}

// The other brand fields: https only, one address, a name on one line.
func TestBrandContactFieldsChecked(t *testing.T) {
	_, b := brandAdmin(t)
	form := b.settingsFields()
	form.Set("companyName", "Acme\r\nBcc: x@evil.example")
	form.Set("supportEmail", "help@acme.example, other@evil.example")
	form.Set("supportPageUrl", "http://acme.example/help")
	p := b.postSettings(form, nil)
	if p.status() != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", p.status())
	}
	for _, f := range []string{"companyName", "supportEmail", "supportPageUrl"} {
		if p.find(`[data-testid=form-error][data-field=`+f+`]`).Length() != 1 {
			t.Errorf("no message beside %s", f)
		}
	}
	form.Set("companyName", "")
	form.Set("supportPageUrl", "javascript:alert(1)")
	p = b.postSettings(form, nil)
	if p.find(`[data-testid=form-error][data-field=companyName]`).Length() != 1 || p.find(`[data-testid=form-error][data-field=supportPageUrl]`).Length() != 1 {
		t.Errorf("empty name or javascript: URL accepted")
	}
}

// Saving the brand is audited with the old and new values; the brand then
// shows on customer pages (with no staff chrome and no word of paylinks),
// in the staff header, and the accent colour's stylesheet serves it.
func TestBrandOnCustomerPagesAndStaffHeader(t *testing.T) {
	e, b := brandAdmin(t)
	form := b.settingsFields()
	form.Set("companyName", "Acme Ltd")
	form.Set("supportEmail", "help@acme.example")
	form.Set("supportPageUrl", "https://acme.example/help")
	form.Set("accentColor", "#1f5fbf")
	p := b.postSettings(form, &upload{"logo.svg", "image/svg+xml", []byte(cleanSVG)})
	if p.status() != http.StatusSeeOther {
		t.Fatalf("save: %d %s", p.status(), p.find(`[data-testid=form-error]`).Text())
	}
	entries, _ := e.store.ListAudit(context.Background(), 20)
	var audited bool
	for _, en := range entries {
		if en.Action == "settings.change" && en.ActorEmail == "admin@example.com" && strings.Contains(en.Details, `"companyName":"Acme Ltd"`) &&
			strings.Contains(en.Details, `"accentColor":"#1f5fbf"`) && strings.Contains(en.Details, `"supportEmail":"help@acme.example"`) {
			audited = true
		}
	}
	if !audited {
		t.Error("brand change not audited with its values")
	}
	info, _, _ := e.store.BrandLogoInfo(context.Background())

	anon := e.browser()
	for _, page := range []string{"success", "support", "exit", "error", "no-such-page"} {
		for _, who := range []*browser{anon, b} { // signed in or not, the same customer page
			p := who.get("/pay/" + page)
			if want := map[bool]int{true: http.StatusNotFound, false: http.StatusOK}[page == "no-such-page"]; p.status() != want {
				t.Fatalf("/pay/%s: %d, want %d", page, p.status(), want)
			}
			if regexp.MustCompile(`(?i)paylinks`).MatchString(p.body) {
				t.Errorf("/pay/%s mentions paylinks:\n%s", page, p.body)
			}
			if p.find("nav").Length() != 0 || p.find("[data-testid=logout]").Length() != 0 || p.find("[data-testid=current-user]").Length() != 0 || p.find("script").Length() != 0 {
				t.Errorf("/pay/%s has staff chrome or scripts", page)
			}
			if title := p.find("title").Text(); !strings.HasSuffix(title, " · Acme Ltd") {
				t.Errorf("/pay/%s title %q", page, title)
			}
			logo := p.find("[data-testid=customer-header] img")
			if src, _ := logo.Attr("src"); src != "/brand/logo?v="+info.ETag {
				t.Errorf("/pay/%s logo src %q", page, src)
			}
			if alt, _ := logo.Attr("alt"); alt != "Acme Ltd" {
				t.Errorf("/pay/%s logo alt %q", page, alt)
			}
			if href, _ := p.find(`link[rel=stylesheet][href^="/brand/theme.css"]`).Attr("href"); href != "/brand/theme.css?v=1f5fbf" {
				t.Errorf("/pay/%s theme %q", page, href)
			}
			foot := p.find("[data-testid=brand-footer]")
			if !strings.Contains(foot.Text(), "Acme Ltd") || foot.Find(`a[href="mailto:help@acme.example"]`).Length() != 1 ||
				foot.Find(`a[href="https://acme.example/help"]`).Length() != 1 {
				t.Errorf("/pay/%s footer %q", page, foot.Text())
			}
		}
	}
	css := anon.get("/brand/theme.css?v=1f5fbf")
	if css.status() != http.StatusOK || !strings.HasPrefix(css.resp.Header.Get("Content-Type"), "text/css") ||
		!strings.Contains(css.body, "--brand-accent: #1f5fbf;") {
		t.Errorf("theme.css: %d %q %q", css.status(), css.resp.Header.Get("Content-Type"), css.body)
	}

	home := b.get("/")
	company := home.find("header [data-testid=brand-company]")
	if !strings.Contains(company.Text(), "Acme Ltd") || company.Find("img.brand-logo").Length() != 1 {
		t.Errorf("staff header: %q", company.Text())
	}
	if home.find("header a.brand").Text() != "paylinks" {
		t.Error("the product name left the staff header")
	}
}

// PAYLINKS_COMPANY_NAME is the first-run default only: it shows until the
// settings are saved, then the saved name does, even if it is empty later
// in the environment.
func TestCompanyNameEnvironmentIsOnlyTheFirstRunDefault(t *testing.T) {
	e, b := brandAdmin(t, func(c *app.Config, _ *app.Parts) { c.CompanyName = "Env Co" })
	if v, _ := b.get("/admin/settings").find(`input[name=companyName]`).Attr("value"); v != "Env Co" {
		t.Errorf("settings form prefilled with %q", v)
	}
	// Until it is saved, the admin's dashboard asks for it.
	if att := b.get("/").find("[data-testid=attention-item]").Text(); !strings.Contains(att, `Customers see "Env Co" as your company name`) {
		t.Errorf("the dashboard does not ask for the company name: %q", att)
	}
	p := e.browser().get("/pay/success")
	if !strings.Contains(p.find("[data-testid=customer-header]").Text(), "Env Co") || strings.Contains(strings.ToLower(p.body), "paylinks") {
		t.Errorf("before saving: %q", p.find("[data-testid=customer-header]").Text())
	}
	// An older form without the brand fields keeps the default unsaved.
	if p := b.submit("/admin/settings", "/admin/settings", url.Values{"successUrl": {"https://shop.example/s"}, "supportUrl": {"https://shop.example/h"},
		"exitUrl": {"https://shop.example/e"}, "errorUrl": {"https://shop.example/r"}, "defaultCurrency": {"EUR"}}); p.status() != http.StatusSeeOther {
		t.Fatalf("save without brand fields: %d %s", p.status(), p.find(`[data-testid=form-error]`).Text())
	}
	if st, _ := e.store.GetSettings(context.Background()); st.CompanyName != "" {
		t.Errorf("a form without the field saved a company name: %q", st.CompanyName)
	}

	form := b.settingsFields()
	form.Set("companyName", "Saved Co")
	if p := b.postSettings(form, nil); p.status() != http.StatusSeeOther {
		t.Fatalf("save: %d", p.status())
	}
	p = e.browser().get("/pay/success")
	if got := p.find("[data-testid=customer-header]").Text(); !strings.Contains(got, "Saved Co") || strings.Contains(p.body, "Env Co") {
		t.Errorf("after saving: %q", got)
	}
	if v, _ := b.get("/admin/settings").find(`input[name=companyName]`).Attr("value"); v != "Saved Co" {
		t.Errorf("settings form shows %q", v)
	}
	if att := b.get("/").find("[data-testid=attention-item]").Text(); strings.Contains(att, "company name") {
		t.Errorf("the dashboard still asks for the company name once saved: %q", att)
	}
}

// An email sent after the brand is set carries the company name (sender
// name, subject, signature), the accent colour and the support contacts,
// as the SMTP server receives it. A sender name written in
// PAYLINKS_MAIL_FROM stays the sender's name.
func TestEmailCarriesTheBrand(t *testing.T) {
	for _, explicitSender := range []bool{false, true} {
		m := newMailEnv(t, false, func(c *app.Config, _ *app.Parts) {
			if !explicitSender {
				c.MailFrom.Name = "" // defaults to the company name
			}
		})
		admin := m.addUser("admin@example.com", paylink.RoleAdmin)
		ab := m.browser()
		ab.login(admin.Email)
		form := ab.settingsFields()
		form.Set("companyName", "Brand Co")
		form.Set("supportEmail", "help@brand.example")
		form.Set("supportPageUrl", "https://brand.example/help")
		form.Set("accentColor", "#2e7d32")
		if p := ab.postSettings(form, nil); p.status() != http.StatusSeeOther {
			t.Fatalf("save brand: %d %s", p.status(), p.find(`[data-testid=form-error]`).Text())
		}
		m.send(t, m.b, m.link.ID, nil)
		if n := m.drain(t); n != 1 {
			t.Fatalf("worker handled %d", n)
		}
		got := m.smtp.Messages()
		if len(got) != 1 {
			t.Fatalf("received %d", len(got))
		}
		r := readReceived(t, got[0].Data)
		wantFrom := "Brand Co"
		if explicitSender {
			wantFrom = "Acme Billing"
		}
		if from, _ := r.header.AddressList("From"); len(from) != 1 || from[0].Name != wantFrom || from[0].Address != "billing@acme.example" {
			t.Errorf("From %q, want name %q", r.header.Get("From"), wantFrom)
		}
		subj, _ := new(mime.WordDecoder).DecodeHeader(r.header.Get("Subject"))
		if subj != "Your payment link from Brand Co: €9.50 (INV-2026-0042)" {
			t.Errorf("Subject %q", subj)
		}
		for _, want := range []string{"Support: help@brand.example", "Help: https://brand.example/help", "\nBrand Co\n"} {
			if text := strings.ReplaceAll(r.text, "\r\n", "\n"); !strings.Contains(text, want) {
				t.Errorf("text part lacks %q:\n%s", want, text)
			}
		}
		for _, want := range []string{"background:#2e7d32", `href="mailto:help@brand.example"`, `href="https://brand.example/help"`, "<p>Brand Co</p>"} {
			if !strings.Contains(r.html, want) {
				t.Errorf("HTML part lacks %q", want)
			}
		}
		if strings.Contains(r.text+r.html, "Acme Ltd") {
			t.Error("the environment's company name is still in the email")
		}
	}
}
