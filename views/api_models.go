package views

import "strings"

// APIKeysPage is the admins' API keys page.
type APIKeysPage struct {
	Layout Layout
	Keys   []APIKeyRow
	Form   APIKeyForm
	Errors FieldErrors
	// Secret is the token of the key just made: shown once, here.
	Secret *APIKeySecret
	Action string // create
	Scopes []string
	// DocsURL is the API reference.
	DocsURL string
}

// APIKeyForm is the new-key form as typed.
type APIKeyForm struct {
	Name, Expires, AllowedIPs string
	Scopes                    map[string]bool
}

// APIKeySecret is a new key's token and name.
type APIKeySecret struct{ Name, Token string }

// APIKeyRow is one key in the table.
type APIKeyRow struct {
	ID                      int64
	Name, Prefix            string
	Scopes                  string
	AllowedIPs              string // "any address" when empty
	Expires                 string // "never"
	State                   string // active, revoked, expired
	Created, CreatedBy      string
	LastUsed, LastUsedFrom  string // "never" when unused
	RevokeURL, CreatorLinks string // CreatorLinks: the links list filtered by this key
}

// APIDocsPage is the API reference, rendered from api/openapi.yaml.
type APIDocsPage struct {
	Layout      Layout
	Title       string
	Version     string
	Description []string // paragraphs
	SpecURL     string
	BaseURL     string
	Operations  []APIOperation
	Schemas     []APISchema
	Problems    []APIProblemType
}

// APIOperation is one operation of the spec.
type APIOperation struct {
	ID, Method, Path, Summary string
	Description               []string
	Scopes                    string
	Params                    []APIField
	Body                      string // the request body's schema name
	Responses                 []APIResponse
}

// APIField is a parameter or a schema property.
type APIField struct {
	Name, In, Type, Description string
	Required                    bool
}

// APIResponse is one documented answer.
type APIResponse struct{ Status, Description, Schema string }

// APISchema is a named schema with its properties.
type APISchema struct {
	Name, Description string
	Fields            []APIField
}

// APIProblemType is one kind of problem the API answers with; its id is
// the fragment of the problem's type URI.
type APIProblemType struct{ Slug, Status, Title, When string }

// ProseSpan is a run of a spec description: plain, `code` or **strong**.
type ProseSpan struct {
	Text         string
	Code, Strong bool
}

// ProseSpans splits the OpenAPI descriptions' inline Markdown, the two
// marks the spec uses: `code` and **strong**. A mark left open is text.
func ProseSpans(s string) []ProseSpan {
	var out []ProseSpan
	plain := func(t string) {
		for t != "" {
			before, rest, ok := strings.Cut(t, "**")
			inner, after, ok2 := strings.Cut(rest, "**")
			if !ok || !ok2 || inner == "" {
				out = append(out, ProseSpan{Text: t})
				return
			}
			if before != "" {
				out = append(out, ProseSpan{Text: before})
			}
			out = append(out, ProseSpan{Text: inner, Strong: true})
			t = after
		}
	}
	for s != "" {
		before, rest, ok := strings.Cut(s, "`")
		code, after, ok2 := strings.Cut(rest, "`")
		if !ok || !ok2 || code == "" {
			plain(s)
			break
		}
		plain(before)
		out = append(out, ProseSpan{Text: code, Code: true})
		s = after
	}
	return out
}
