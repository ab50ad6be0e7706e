package mail

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"reflect"
	"sort"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Data holds the values a template may use; each field is one placeholder,
// written {{.Amount}}. Values are plain text: the HTML part escapes them.
type Data struct {
	CustomerName     string
	CustomerID       string
	CustomerEmail    string
	Amount           string // formatted for its currency, like €1,250.00
	Currency         string
	Link             string // the checkout URL
	ExpiresAt        string
	WebsiteReference string
	CompanyName      string
	Message          string // an optional note typed by staff
	// The merchant's brand, from Settings: support contacts (may be
	// empty) and the accent colour, always a validated #rrggbb (the
	// default when none is set).
	SupportEmail string
	SupportURL   string
	AccentColor  string
}

// DefaultAccentColor is the Pay button's colour when Settings set none.
const DefaultAccentColor = "#0b57d0"

// Brand is the merchant as every customer email shows it (Settings, "Your
// brand"): the first email, its resends and the reminders alike.
type Brand struct {
	Company, SupportEmail, SupportURL string
	Accent                            string // #rrggbb, or "" for DefaultAccentColor
}

// Apply fills d's brand placeholders.
func (b Brand) Apply(d Data) Data {
	d.CompanyName, d.SupportEmail, d.SupportURL, d.AccentColor = b.Company, b.SupportEmail, b.SupportURL, b.Accent
	if d.AccentColor == "" {
		d.AccentColor = DefaultAccentColor
	}
	return d
}

// SenderName is the name customer emails come from: the name written in
// the configured sender (from), unless it is only the first-run company
// name it defaulted to; otherwise the company's name.
func (b Brand) SenderName(from Address, firstRunCompany string) string {
	if from.Name != "" && from.Name != firstRunCompany {
		return from.Name
	}
	return b.Company
}

// Placeholder documents one field of Data.
type Placeholder struct {
	Name string // without braces, e.g. "Amount"
	Help string
}

// Placeholders lists every field of Data, in the order the admin page
// shows them.
var Placeholders = []Placeholder{
	{"CustomerName", "the recipient's name (may be empty)"},
	{"CustomerID", "your customer id"},
	{"CustomerEmail", "the recipient's address"},
	{"Amount", "the amount with its currency, like €1,250.00"},
	{"Currency", "the currency code, like EUR"},
	{"Link", "the checkout link"},
	{"ExpiresAt", "when the link expires, like 2 Dec 2026 09:00 UTC (may be empty)"},
	{"WebsiteReference", "the website reference (invoice or order number; may be empty)"},
	{"CompanyName", "your company name, as set under Settings"},
	{"Message", "the note staff type when sending (may be empty)"},
	{"SupportEmail", "the support email address set under Settings, where customers can write with questions (may be empty)"},
	{"SupportURL", "the address of your support page set under Settings (may be empty)"},
	{"AccentColor", "your accent colour set under Settings, like #1f5fbf, for example as the background of the Pay button (never empty: paylinks' blue when none is set)"},
}

var placeholderSet = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range Placeholders {
		m[p.Name] = true
	}
	return m
}()

// SampleData is what template previews show.
func SampleData(company string) Data {
	return Data{
		CustomerName: "Ada Lovelace", CustomerID: "CUST-42", CustomerEmail: "ada@example.com",
		Amount: "€1,250.00", Currency: "EUR", Link: "https://checkout.stablemint.example/c/5f3a9b",
		ExpiresAt: "2 Dec 2026 09:00 UTC", WebsiteReference: "INV-2026-0042", CompanyName: company,
		Message: "Thank you for your order.", SupportEmail: "help@example.com", SupportURL: "https://example.com/help",
		AccentColor: DefaultAccentColor,
	}
}

// Template is the admin-editable email: a one-line subject, a plain-text
// body and an HTML body, with {{.Name}} placeholders and
// {{if .Name}}…{{else}}…{{end}} around optional parts. Nothing else of Go's
// template language is allowed (no functions, pipes, variables, range,
// define or template).
type Template struct {
	Subject string
	Text    string
	HTML    string
}

// Template size limits (own picks).
const (
	MaxSubjectTemplate = 500
	MaxBodyTemplate    = 50_000
)

// DefaultTemplate ships with paylinks; admins replace it under Settings.
var DefaultTemplate = Template{
	Subject: `Your payment link from {{.CompanyName}}: {{.Amount}}{{if .WebsiteReference}} ({{.WebsiteReference}}){{end}}`,
	Text: `{{if .CustomerName}}Hello {{.CustomerName}},{{else}}Hello,{{end}}

{{.CompanyName}} asks you to pay {{.Amount}}{{if .WebsiteReference}} for {{.WebsiteReference}}{{end}}.
{{if .Message}}
{{.Message}}
{{end}}
Pay securely with this link:
{{.Link}}
{{if .ExpiresAt}}
The link is valid until {{.ExpiresAt}}.
{{end}}
If you have a question, {{if .SupportEmail}}write to {{.SupportEmail}}{{else}}reply to this email{{end}}{{if .WebsiteReference}} and quote {{.WebsiteReference}}{{end}}.

{{.CompanyName}}
{{if .SupportEmail}}Support: {{.SupportEmail}}
{{end}}{{if .SupportURL}}Help: {{.SupportURL}}
{{end}}`,
	HTML: `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Payment request</title></head>
<body style="margin:0;padding:24px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2328">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px">
<tr><td style="padding:28px">
<p>{{if .CustomerName}}Hello {{.CustomerName}},{{else}}Hello,{{end}}</p>
<p>{{.CompanyName}} asks you to pay <strong>{{.Amount}}</strong>{{if .WebsiteReference}} for <strong>{{.WebsiteReference}}</strong>{{end}}.</p>
{{if .Message}}<p style="white-space:pre-line">{{.Message}}</p>{{end}}
<p style="margin:28px 0"><a href="{{.Link}}" style="background:{{.AccentColor}};color:#ffffff;padding:12px 22px;border-radius:6px;text-decoration:none;display:inline-block">Pay {{.Amount}}</a></p>
<p style="font-size:13px;color:#57606a">Or open this link: <a href="{{.Link}}">{{.Link}}</a></p>
{{if .ExpiresAt}}<p style="font-size:13px;color:#57606a">The link is valid until {{.ExpiresAt}}.</p>{{end}}
<p>If you have a question, {{if .SupportEmail}}write to <a href="mailto:{{.SupportEmail}}">{{.SupportEmail}}</a>{{else}}reply to this email{{end}}{{if .WebsiteReference}} and quote {{.WebsiteReference}}{{end}}.</p>
<p>{{.CompanyName}}</p>
{{if .SupportEmail}}<p style="font-size:13px;color:#57606a;border-top:1px solid #d0d7de;padding-top:12px">Support: <a href="mailto:{{.SupportEmail}}">{{.SupportEmail}}</a>{{if .SupportURL}} · Help: <a href="{{.SupportURL}}">{{.SupportURL}}</a>{{end}}</p>{{else}}{{if .SupportURL}}<p style="font-size:13px;color:#57606a;border-top:1px solid #d0d7de;padding-top:12px">Help: <a href="{{.SupportURL}}">{{.SupportURL}}</a></p>{{end}}{{end}}
</td></tr>
</table>
</body>
</html>
`,
}

// TemplateErrors maps a part ("subject", "text", "html") to what is wrong
// with it.
type TemplateErrors map[string]string

func (e TemplateErrors) Error() string {
	parts := make([]string, 0, len(e))
	for k, v := range e {
		parts = append(parts, k+": "+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// Compiled is a validated template, ready to render. It is safe for
// concurrent use.
type Compiled struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// Compile validates every part and renders it once with sample data, so a
// template that saves is a template that renders. The error is a
// TemplateErrors.
func (t Template) Compile() (*Compiled, error) {
	errs := TemplateErrors{}
	c := &Compiled{}
	var err error
	if c.subject, err = parseText("subject", t.Subject, MaxSubjectTemplate); err != nil {
		errs["subject"] = err.Error()
	}
	if c.text, err = parseText("text", t.Text, MaxBodyTemplate); err != nil {
		errs["text"] = err.Error()
	}
	if c.html, err = parseHTML(t.HTML); err != nil {
		errs["html"] = err.Error()
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if _, err := c.Render(SampleData("Example Ltd")); err != nil {
		var re *RenderError
		if errors.As(err, &re) {
			errs[re.Part] = re.Msg
		} else {
			errs["html"] = err.Error()
		}
		return nil, errs
	}
	return c, nil
}

func parseText(name, src string, max int) (*texttemplate.Template, error) {
	if err := checkSource(src, max); err != nil {
		return nil, err
	}
	t, err := texttemplate.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, syntaxError(err)
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("{{define}} and {{block}} are not allowed")
	}
	if err := checkTree(t.Tree); err != nil {
		return nil, err
	}
	return t, nil
}

func parseHTML(src string) (*htmltemplate.Template, error) {
	if err := checkSource(src, MaxBodyTemplate); err != nil {
		return nil, err
	}
	t, err := htmltemplate.New("html").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, syntaxError(err)
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("{{define}} and {{block}} are not allowed")
	}
	if err := checkTree(t.Tree); err != nil {
		return nil, err
	}
	return t, nil
}

func checkSource(src string, max int) error {
	switch {
	case strings.TrimSpace(src) == "":
		return errors.New("it is empty")
	case !utf8.ValidString(src):
		return errors.New("it is not valid UTF-8")
	case utf8.RuneCountInString(src) > max:
		return fmt.Errorf("it is longer than %d characters", max)
	}
	return nil
}

// syntaxError drops the "template: name:" prefix of parse errors.
func syntaxError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	if i := strings.Index(msg, ":"); i >= 0 {
		msg = "line " + msg[i+1:]
	}
	return errors.New("syntax error at " + msg)
}

var errOnlyPlaceholders = "only placeholders like {{.Amount}} and {{if .Message}}…{{else}}…{{end}} are allowed"

// checkTree accepts text, comments, {{.Name}} for a known Name, and
// {{if .Name}} with an optional {{else}} (or {{else if .Name}}).
func checkTree(tree *parse.Tree) error {
	var walk func(n parse.Node) error
	field := func(p *parse.PipeNode) error {
		if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
			return fmt.Errorf("%s: %s", where(tree, p), errOnlyPlaceholders)
		}
		f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
		if !ok || len(f.Ident) != 1 {
			return fmt.Errorf("%s: %s", where(tree, p), errOnlyPlaceholders)
		}
		if !placeholderSet[f.Ident[0]] {
			return fmt.Errorf("%s: unknown placeholder {{.%s}}; use one of %s", where(tree, p), f.Ident[0], knownList())
		}
		return nil
	}
	walk = func(n parse.Node) error {
		switch n := n.(type) {
		case nil:
			return nil
		case *parse.ListNode:
			if n == nil {
				return nil
			}
			for _, c := range n.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
			return nil
		case *parse.TextNode, *parse.CommentNode:
			return nil
		case *parse.ActionNode:
			return field(n.Pipe)
		case *parse.IfNode:
			if err := field(n.Pipe); err != nil {
				return err
			}
			if err := walk(n.List); err != nil {
				return err
			}
			return walk(n.ElseList)
		}
		return fmt.Errorf("%s: %s", where(tree, n), errOnlyPlaceholders)
	}
	return walk(tree.Root)
}

// where is "line N" of a node.
func where(tree *parse.Tree, n parse.Node) string {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return "somewhere"
	}
	loc, _ := tree.ErrorContext(n)
	// loc is "name:line:col"
	parts := strings.Split(loc, ":")
	if len(parts) >= 2 {
		return "line " + parts[1]
	}
	return loc
}

func knownList() string {
	names := make([]string, len(Placeholders))
	for i, p := range Placeholders {
		names[i] = "{{." + p.Name + "}}"
	}
	return strings.Join(names, ", ")
}

// Rendered is a template filled in: what the message will say.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// RenderError says which part could not be rendered and why.
type RenderError struct {
	Part string // "subject", "text" or "html"
	Msg  string
}

func (e *RenderError) Error() string { return e.Part + ": " + e.Msg }

// Render fills the template in. The subject must come out as one non-empty
// line: a value carrying a line break is refused, never folded into a
// header. Values in the HTML part are escaped by html/template for where
// they appear (text, attribute or URL).
func (c *Compiled) Render(d Data) (Rendered, error) {
	subject, err := c.RenderSubject(d)
	if err != nil {
		return Rendered{}, err
	}
	text, html, err := c.RenderBody(d)
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{Subject: subject, Text: text, HTML: html}, nil
}

// RenderSubject fills in the subject alone (staff may then edit it).
func (c *Compiled) RenderSubject(d Data) (string, error) {
	var buf bytes.Buffer
	if err := c.subject.Execute(&buf, d); err != nil {
		return "", &RenderError{"subject", err.Error()}
	}
	subject := strings.TrimSpace(buf.String())
	switch err := CheckHeader(subject, MaxSubjectLength); {
	case errors.Is(err, ErrLineBreak):
		return "", &RenderError{"subject", "the subject would contain a line break; subjects are one line"}
	case errors.Is(err, ErrTooLong):
		return "", &RenderError{"subject", fmt.Sprintf("the subject would be longer than %d characters", MaxSubjectLength)}
	case err != nil:
		return "", &RenderError{"subject", "the subject " + err.Error()}
	case subject == "":
		return "", &RenderError{"subject", "the subject would be empty"}
	}
	return subject, nil
}

// RenderBody fills in the plain-text and HTML parts.
func (c *Compiled) RenderBody(d Data) (text, html string, err error) {
	var buf bytes.Buffer
	if err := c.text.Execute(&buf, d); err != nil {
		return "", "", &RenderError{"text", err.Error()}
	}
	text = buf.String()
	buf.Reset()
	if err := c.html.Execute(&buf, d); err != nil {
		return "", "", &RenderError{"html", strings.TrimPrefix(err.Error(), "html/template:")}
	}
	html = buf.String()
	if strings.TrimSpace(text) == "" || strings.TrimSpace(html) == "" {
		return "", "", &RenderError{"text", "the message would be empty"}
	}
	return text, html, nil
}
