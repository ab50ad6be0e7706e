package mail_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/mail"
)

func TestDefaultTemplateRendersEveryValue(t *testing.T) {
	c, err := mail.DefaultTemplate.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := mail.SampleData("Acme Ltd")
	r, err := c.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Your payment link from Acme Ltd: €1,250.00 (INV-2026-0042)" {
		t.Errorf("subject %q", r.Subject)
	}
	for _, want := range []string{d.CustomerName, d.Amount, d.Link, d.ExpiresAt, d.WebsiteReference, d.CompanyName, d.Message} {
		if !strings.Contains(r.Text, want) || !strings.Contains(r.HTML, want) {
			t.Errorf("%q missing from a part", want)
		}
	}
	// Optional values leave no holes.
	d.CustomerName, d.WebsiteReference, d.ExpiresAt, d.Message = "", "", "", ""
	r, err = c.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Text, "Hello,\n") || strings.Contains(r.Text, "valid until") || strings.Contains(r.Subject, "(") {
		t.Errorf("empty values rendered badly:\n%s\n%s", r.Subject, r.Text)
	}
}

func TestPlaceholdersMatchData(t *testing.T) {
	typ := reflect.TypeFor[mail.Data]()
	if typ.NumField() != len(mail.Placeholders) {
		t.Fatalf("Data has %d fields, Placeholders lists %d", typ.NumField(), len(mail.Placeholders))
	}
	for i, p := range mail.Placeholders {
		if _, ok := typ.FieldByName(p.Name); !ok {
			t.Errorf("placeholder %d %q is not a field of Data", i, p.Name)
		}
	}
}

func TestTemplateValidation(t *testing.T) {
	ok := mail.DefaultTemplate
	cases := []struct {
		name string
		edit func(*mail.Template)
		part string
		want string
	}{
		{"unknown placeholder", func(t *mail.Template) { t.Subject = "Pay {{.Amout}}" }, "subject", "unknown placeholder {{.Amout}}"},
		{"unknown in html", func(t *mail.Template) { t.HTML = "<p>{{.Amount}}</p>\n<p>{{.Password}}</p>" }, "html", "line 2: unknown placeholder {{.Password}}"},
		{"unknown in condition", func(t *mail.Template) { t.Text = "{{if .Secret}}x{{end}} {{.Link}}" }, "text", "unknown placeholder {{.Secret}}"},
		{"function call", func(t *mail.Template) { t.Text = `{{printf "%s" .Amount}}` }, "text", "only placeholders"},
		{"pipe", func(t *mail.Template) { t.Text = `{{.Amount | html}}` }, "text", "only placeholders"},
		{"range", func(t *mail.Template) { t.Text = `{{range .Link}}x{{end}}` }, "text", "only placeholders"},
		{"variable", func(t *mail.Template) { t.Text = `{{$x := .Link}}{{$x}}` }, "text", "only placeholders"},
		{"dot", func(t *mail.Template) { t.Text = `{{.}}` }, "text", "only placeholders"},
		{"define", func(t *mail.Template) { t.Text = `{{define "x"}}y{{end}}{{.Link}}` }, "text", "not allowed"},
		{"nested field", func(t *mail.Template) { t.Text = `{{.Link.Host}}` }, "text", "only placeholders"},
		{"syntax", func(t *mail.Template) { t.Subject = "Pay {{.Amount" }, "subject", "syntax error"},
		{"unknown function", func(t *mail.Template) { t.Subject = "{{exec}}" }, "subject", "syntax error"},
		{"empty", func(t *mail.Template) { t.HTML = "  " }, "html", "empty"},
		{"line break in subject", func(t *mail.Template) { t.Subject = "Pay\nnow" }, "subject", "line break"},
		{"html context", func(t *mail.Template) { t.HTML = `<a href="{{.Link}}` }, "html", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl := ok
			c.edit(&tpl)
			_, err := tpl.Compile()
			var te mail.TemplateErrors
			if !errors.As(err, &te) {
				t.Fatalf("Compile: %v, want TemplateErrors", err)
			}
			if msg := te[c.part]; msg == "" || !strings.Contains(msg, c.want) {
				t.Fatalf("%s error %q, want one containing %q (all: %v)", c.part, msg, c.want, te)
			}
		})
	}
}

func TestRenderRefusesLineBreakFromAValue(t *testing.T) {
	c, err := mail.Template{Subject: "Invoice {{.WebsiteReference}}", Text: "{{.Link}}", HTML: "<p>{{.Link}}</p>"}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := mail.SampleData("Acme")
	d.WebsiteReference = "INV-1\r\nBcc: victim@example.com"
	_, err = c.Render(d)
	var re *mail.RenderError
	if !errors.As(err, &re) || re.Part != "subject" || !strings.Contains(re.Msg, "line break") {
		t.Fatalf("Render: %v", err)
	}
}

func TestHTMLValuesAreEscapedForTheirContext(t *testing.T) {
	c, err := mail.Template{
		Subject: "x",
		Text:    "{{.CustomerID}} {{.Link}}",
		HTML:    `<p title="{{.CustomerID}}">{{.CustomerID}}</p><a href="{{.Link}}">pay</a>`,
	}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := mail.SampleData("Acme")
	d.CustomerID = `"><img src=x onerror=alert(1)>`
	d.Link = "javascript:alert(1)"
	r, err := c.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<img") || strings.Contains(r.HTML, `href="javascript:`) {
		t.Fatalf("unescaped HTML: %s", r.HTML)
	}
	if !strings.Contains(r.Text, `"><img src=x onerror=alert(1)>`) {
		t.Errorf("the text part must carry the value as is: %s", r.Text)
	}
}
