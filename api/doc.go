// Package api is paylinks' JSON API contract: openapi.yaml is the source of
// truth, and api.gen.go (types, the Echo strict-server interface and
// routing, a client, the embedded spec) is generated from it. LinkOf is the
// one JSON form of a link, for the API's answers and outbound webhooks'
// payloads. The handlers that implement the interface live in handlers/
// (api_*.go) and call the same services as the pages; docs/api.md is the
// guide.
package api

//go:generate go tool oapi-codegen -config oapi-codegen.yaml openapi.yaml
