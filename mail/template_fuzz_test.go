package mail_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/paylinks/paylinks/mail"
)

// fzAll is Data with every placeholder set to v.
func fzAll(v string) mail.Data {
	return mail.Data{CustomerName: v, CustomerID: v, CustomerEmail: v, Amount: v, Currency: v, Link: v,
		ExpiresAt: v, WebsiteReference: v, CompanyName: v, Message: v}
}

// FuzzTemplateCompile: admins type the template, so any text may reach
// Compile. It never panics; it refuses with a TemplateErrors naming only
// the parts it has (subject, text, html); and a template it accepts renders
// with the sample data ("a template that saves is a template that renders")
// and with any values never yields a subject holding a line break.
func FuzzTemplateCompile(f *testing.F) {
	d := mail.DefaultTemplate
	f.Add(d.Subject, d.Text, d.HTML)
	f.Add("Pay {{.Amount}}", "{{if .Message}}{{.Message}}{{else}}Hello{{end}} {{.Link}}", `<a href="{{.Link}}">{{.Amount}}</a>`)
	f.Add("{{.Amount", "{{printf \"%s\" .Link}}", "{{define \"x\"}}{{end}}")
	f.Add("{{.Link.Host}}", "{{$x := .Link}}{{$x}}", "{{range .Link}}{{end}}")
	f.Add("a\nb", "{{template \"x\"}}", "<script>var a = {{.Message}};</script>")
	f.Add("{{/* c */}}S", "{{- .Link -}}", "<style>p{color:{{.Currency}}}</style>{{.Link}}")
	f.Add("{{if .Message}}{{else if .Link}}x{{end}}", "{{.}}", "<a href=`{{.Link}}`>x</a>")
	f.Fuzz(func(t *testing.T, subject, text, html string) {
		c, err := mail.Template{Subject: subject, Text: text, HTML: html}.Compile()
		if err != nil {
			var te mail.TemplateErrors
			if !errors.As(err, &te) || len(te) == 0 {
				t.Fatalf("Compile: %T %v, want a non-empty TemplateErrors", err, err)
			}
			for part, msg := range te {
				if (part != "subject" && part != "text" && part != "html") || msg == "" {
					t.Fatalf("Compile: error part %q message %q", part, msg)
				}
			}
			return
		}
		if _, err := c.Render(mail.SampleData("Example Ltd")); err != nil {
			t.Fatalf("compiled, but does not render the sample data: %v", err)
		}
		for _, v := range []string{"", "x", "a\r\nBcc: victim@example.com", "\n", strings.Repeat("long ", 300)} {
			s, err := c.RenderSubject(fzAll(v))
			if err == nil && (s == "" || strings.ContainsAny(s, "\r\n")) {
				t.Fatalf("subject %q rendered from value %q", s, v)
			}
		}
	})
}

// fzBase is the harmless value the shape of a rendering is compared with.
const fzBase = "fzvalue"

// fzShape is the element structure of an HTML document as a browser
// parses it: per element, its name and its attributes' names, in order.
func fzShape(t *testing.T, doc string) [][]string {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var shape [][]string
	d.Find("*").Each(func(_ int, s *goquery.Selection) {
		e := []string{goquery.NodeName(s)}
		for _, a := range s.Nodes[0].Attr {
			e = append(e, a.Namespace+":"+a.Key)
		}
		shape = append(shape, e)
	})
	return shape
}

// fzURLs lists the URL attributes of a document, in order.
func fzURLs(t *testing.T, doc string) []string {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	d.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			switch a.Key {
			case "href", "src", "action", "formaction", "background", "poster", "cite", "srcset":
				urls = append(urls, a.Val)
			}
		}
	})
	return urls
}

// fzScriptURL reports whether a browser would run u as script.
func fzScriptURL(u string) bool {
	u = strings.ToLower(strings.Map(func(r rune) rune {
		if r <= ' ' {
			return -1
		}
		return r
	}, u))
	return strings.HasPrefix(u, "javascript:") || strings.HasPrefix(u, "vbscript:") || strings.HasPrefix(u, "data:text/html")
}

// fzSameShape compares shapes. Where the template puts a value inside an
// attribute name (<p {{.X}}>), html/template lets letters and digits
// through (never on*, style, href, src…), so the name may differ but not
// the count. Where it puts one inside a tag name (<A0{{.X}}>), letters and
// digits may make another element (and, say, <scrip{{.X}}> a script around
// what the admin wrote next): that is the admin's template, not the value,
// so such templates are not compared.
func fzSameShape(got, want [][]string) bool {
	for _, e := range want {
		if strings.Contains(e[0], fzBase) {
			return true
		}
	}
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			return false
		}
		for j := range want[i] {
			if got[i][j] != want[i][j] && !(j > 0 && strings.Contains(want[i][j], fzBase)) {
				return false
			}
		}
	}
	return true
}

// FuzzTemplateValues: values come from customers and staff (names,
// references, notes), so they are data, never markup. Rendered into any
// accepted HTML template, in any context (text, attribute, URL, script,
// style), a value adds no < or > of its own to the HTML and cannot change
// its shape: a browser parses the same elements with the same attributes as
// for a plain word, so no value opens a tag, closes a script or steps out
// of a quoted attribute; and no value turns a link into javascript:. The plain-text part
// carries the value as it is, and a subject never carries a line break.
func FuzzTemplateValues(f *testing.F) {
	for _, v := range []string{`"><script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, "{{7*7}}", "javascript:alert(1)",
		"' onmouseover='x", "</style><script>x</script>", "\u2028\u2029", "a\r\nBcc: x@example.com", "é & ü"} {
		f.Add(mail.DefaultTemplate.HTML, v)
		f.Add(`<p title={{.CustomerName}} data-x='{{.CustomerID}}'>{{.Message}}</p><a href="{{.Link}}?r={{.WebsiteReference}}">x</a>`, v)
		f.Add(`<script>var n = {{.CustomerName}}; var s = "{{.Message}}"; var r = /{{.Link}}/;</script><style>p { color: {{.Currency}} }</style>`, v)
		f.Add(`<textarea>{{.Message}}</textarea><title>{{.CompanyName}}</title><!-- {{.Link}} --><p {{.Currency}}>x</p>`, v)
	}
	f.Fuzz(func(t *testing.T, html, value string) {
		if value == "" {
			return // "" and fzBase take different {{if}} branches
		}
		c, err := mail.Template{Subject: "Invoice {{.WebsiteReference}}", Text: "{{.Message}}", HTML: html}.Compile()
		if err != nil {
			return
		}
		base, err := c.Render(fzAll(fzBase))
		if err != nil {
			t.Fatalf("compiled, but does not render the value %q: %v", fzBase, err)
		}
		text, out, err := c.RenderBody(fzAll(value))
		if err != nil {
			var re *mail.RenderError
			if !errors.As(err, &re) {
				t.Fatalf("RenderBody: %T %v, want a *RenderError", err, err)
			}
			return
		}
		if text != value {
			t.Fatalf("text part %q, want the value %q as it is", text, value)
		}
		for _, ch := range []string{"<", ">"} {
			if got, want := strings.Count(out, ch), strings.Count(base.HTML, ch); got != want {
				t.Fatalf("value %q adds %s to the HTML: %d, want %d\ntemplate: %s\nwith x:     %s\nwith value: %s",
					value, ch, got, want, html, base.HTML, out)
			}
		}
		if got, want := fzShape(t, out), fzShape(t, base.HTML); !fzSameShape(got, want) {
			t.Fatalf("value %q changes the elements or attributes:\n got %q\nwant %q\ntemplate: %s\nwith value: %s",
				value, got, want, html, out)
		}
		if got, want := fzURLs(t, out), fzURLs(t, base.HTML); len(got) == len(want) {
			for i := range got {
				if fzScriptURL(got[i]) && !fzScriptURL(want[i]) {
					t.Fatalf("value %q makes a script URL %q\ntemplate: %s", value, got[i], html)
				}
			}
		}
		if s, err := c.RenderSubject(fzAll(value)); err == nil && strings.ContainsAny(s, "\r\n") {
			t.Fatalf("subject %q from value %q", s, value)
		}
	})
}
