package views

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
