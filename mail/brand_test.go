package mail_test

import (
	"strings"
	"testing"

	"github.com/paylinks/paylinks/mail"
)

// The brand's values reach the default email: the accent colour on the
// Pay button, the support contacts in the footer, the company name as the
// signature; without support contacts the email says to reply instead.
func TestDefaultTemplateCarriesTheBrand(t *testing.T) {
	c, err := mail.DefaultTemplate.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := mail.SampleData("Acme Ltd")
	d.AccentColor, d.SupportEmail, d.SupportURL = "#12ab34", "help@acme.example", "https://acme.example/help"
	r, err := c.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.HTML, `style="background:#12ab34;color:#ffffff;`) {
		t.Errorf("the Pay button is not in the accent colour:\n%s", r.HTML)
	}
	for _, want := range []string{`href="mailto:help@acme.example"`, `href="https://acme.example/help"`, "<p>Acme Ltd</p>"} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML part lacks %s", want)
		}
	}
	for _, want := range []string{"Support: help@acme.example", "Help: https://acme.example/help", "\nAcme Ltd\n"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, r.Text)
		}
	}

	d.SupportEmail, d.SupportURL = "", ""
	r, err = c.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Text, "Support:") || strings.Contains(r.HTML, "mailto:") || !strings.Contains(r.Text, "reply to this email") {
		t.Errorf("without support contacts the email should say to reply:\n%s", r.Text)
	}
}

// An accent value that is not a colour cannot break out of the style
// attribute (the handler validates it; html/template is the second line).
func TestAccentColourIsEscapedAsCSS(t *testing.T) {
	c, err := mail.DefaultTemplate.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := mail.SampleData("Acme Ltd")
	d.AccentColor = `red;background-image:url(https://evil.example/x)" onclick="alert(1)`
	r, err := c.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "evil.example") || strings.Contains(r.HTML, "onclick") {
		t.Errorf("accent value escaped its context:\n%s", r.HTML)
	}
}

// Templates saved before the brand existed still compile and render.
func TestTemplateWithoutBrandPlaceholdersStillWorks(t *testing.T) {
	old := mail.Template{Subject: "Pay {{.Amount}}", Text: "{{.CompanyName}}: {{.Link}}", HTML: `<p>{{.CompanyName}} <a href="{{.Link}}">pay</a></p>`}
	c, err := old.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Render(mail.SampleData("Acme Ltd")); err != nil {
		t.Fatal(err)
	}
}
