package handlers

// The JSON API's webhooks:manage operations (api/openapi.yaml, tag
// webhooks): they call outbound.Endpoints, the service the admin pages
// (handlers/webhooks_out.go) call, so the checks (the SSRF guard), the
// storage and the audit entries are the pages', with the key as the actor.

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/paylinks/paylinks/api"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
)

// hooks is the endpoints service and its store, or a 503 problem when
// this paylinks has no outbound worker (or its store lacks the calls).
func (s *apiServer) hooks() (*outbound.Endpoints, OutboundStore, error) {
	st, ok := s.a.store.(OutboundStore)
	if !ok || s.a.opts.Outbound == nil {
		p := newProblem(http.StatusServiceUnavailable, "unavailable", "Unavailable", "Outbound webhooks are not set up on this paylinks.")
		return nil, nil, p
	}
	return s.a.endpoints(), st, nil
}

func endpointNotFound() *problem {
	return newProblem(http.StatusNotFound, "not-found", "Not found", "There is no such webhook endpoint.")
}

// endpointOf is an endpoint as the API shows it (never its secret).
func (s *apiServer) endpointOf(ctx context.Context, st OutboundStore, e db.OutboundEndpoint) (api.WebhookEndpoint, error) {
	out := api.WebhookEndpoint{Id: e.ID, Url: e.URL, Description: e.Description, Enabled: e.Enabled,
		Events: make([]api.WebhookEventType, 0, len(e.Types)), CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()}
	for _, t := range e.Types {
		out.Events = append(out.Events, api.WebhookEventType(t))
	}
	if e.DisabledReason != "" && !e.Enabled {
		out.DisabledReason = &e.DisabledReason
	}
	if !e.FailingSince.IsZero() {
		t := e.FailingSince.UTC()
		out.FailingSince = &t
	}
	if e.OldSecret != "" && s.a.now().Before(e.OldSecretUntil) {
		t := e.OldSecretUntil.UTC()
		out.OldSecretValidUntil = &t
	}
	n, err := st.OutboundPendingFor(ctx, e.ID)
	out.Pending = n
	return out, err
}

// targetHook loads endpoint id, or a 404 problem.
func (s *apiServer) targetHook(ctx context.Context, st OutboundStore, id int64) (db.OutboundEndpoint, error) {
	e, err := st.OutboundEndpointByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return e, endpointNotFound()
	}
	return e, err
}

// hookErrors are the service's refusals under the API's field names.
func hookErrors(errs outbound.FieldErrors) *problem {
	return unprocessable(fieldErrors(errs, map[string]string{"types": "events"}))
}

func eventTypes(ts []api.WebhookEventType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

func (s *apiServer) ListWebhookEndpoints(ctx context.Context, _ api.ListWebhookEndpointsRequestObject) (api.ListWebhookEndpointsResponseObject, error) {
	_, st, err := s.hooks()
	if err != nil {
		return nil, err
	}
	eps, err := st.OutboundEndpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := api.WebhookEndpointList{Data: make([]api.WebhookEndpoint, 0, len(eps))}
	for _, e := range eps {
		v, err := s.endpointOf(ctx, st, e)
		if err != nil {
			return nil, err
		}
		out.Data = append(out.Data, v)
	}
	return api.ListWebhookEndpoints200JSONResponse(out), nil
}

func (s *apiServer) CreateWebhookEndpoint(ctx context.Context, req api.CreateWebhookEndpointRequestObject) (api.CreateWebhookEndpointResponseObject, error) {
	svc, st, err := s.hooks()
	if err != nil {
		return nil, err
	}
	caller, b := callerFrom(ctx), req.Body
	in := outbound.EndpointInput{URL: strings.TrimSpace(b.Url), Types: eventTypes(b.Events), Enabled: true}
	if b.Description != nil {
		in.Description = strings.TrimSpace(*b.Description)
	}
	e, secret, errs, err := svc.Create(ctx, in, caller.key.UserID, caller.audit(outbound.ActionCreate))
	if len(errs) > 0 {
		return nil, hookErrors(errs)
	}
	if err != nil {
		return nil, err
	}
	v, err := s.endpointOf(ctx, st, e)
	if err != nil {
		return nil, err
	}
	loc := apiPrefix + "/webhook-endpoints/" + strconv.FormatInt(e.ID, 10)
	return api.CreateWebhookEndpoint201JSONResponse{Body: api.WebhookEndpointWithSecret{Endpoint: v, Secret: secret},
		Headers: api.CreateWebhookEndpoint201ResponseHeaders{Location: &loc}}, nil
}

func (s *apiServer) GetWebhookEndpoint(ctx context.Context, req api.GetWebhookEndpointRequestObject) (api.GetWebhookEndpointResponseObject, error) {
	_, st, err := s.hooks()
	if err != nil {
		return nil, err
	}
	e, err := s.targetHook(ctx, st, req.Id)
	if err != nil {
		return nil, err
	}
	v, err := s.endpointOf(ctx, st, e)
	if err != nil {
		return nil, err
	}
	return api.GetWebhookEndpoint200JSONResponse(v), nil
}

// UpdateWebhookEndpoint changes the fields sent, the rest kept, checked
// as the page's form is.
func (s *apiServer) UpdateWebhookEndpoint(ctx context.Context, req api.UpdateWebhookEndpointRequestObject) (api.UpdateWebhookEndpointResponseObject, error) {
	svc, st, err := s.hooks()
	if err != nil {
		return nil, err
	}
	e, err := s.targetHook(ctx, st, req.Id)
	if err != nil {
		return nil, err
	}
	b := req.Body
	in := outbound.EndpointInput{URL: e.URL, Description: e.Description, Types: e.Types, Enabled: e.Enabled}
	if b.Url != nil {
		in.URL = strings.TrimSpace(*b.Url)
	}
	if b.Description != nil {
		in.Description = strings.TrimSpace(*b.Description)
	}
	if b.Events != nil {
		in.Types = eventTypes(*b.Events)
	}
	if b.Enabled != nil {
		in.Enabled = *b.Enabled
	}
	errs, err := svc.Update(ctx, e.ID, in, callerFrom(ctx).audit(outbound.ActionUpdate))
	if len(errs) > 0 {
		return nil, hookErrors(errs)
	}
	if errors.Is(err, db.ErrNotFound) {
		return nil, endpointNotFound()
	}
	if err != nil {
		return nil, err
	}
	if e, err = s.targetHook(ctx, st, e.ID); err != nil {
		return nil, err
	}
	v, err := s.endpointOf(ctx, st, e)
	if err != nil {
		return nil, err
	}
	return api.UpdateWebhookEndpoint200JSONResponse(v), nil
}

func (s *apiServer) DeleteWebhookEndpoint(ctx context.Context, req api.DeleteWebhookEndpointRequestObject) (api.DeleteWebhookEndpointResponseObject, error) {
	svc, _, err := s.hooks()
	if err != nil {
		return nil, err
	}
	err = svc.Delete(ctx, req.Id, callerFrom(ctx).audit(outbound.ActionDelete))
	if errors.Is(err, db.ErrNotFound) {
		return nil, endpointNotFound()
	}
	if err != nil {
		return nil, err
	}
	return api.DeleteWebhookEndpoint204Response{}, nil
}

func (s *apiServer) RotateWebhookSecret(ctx context.Context, req api.RotateWebhookSecretRequestObject) (api.RotateWebhookSecretResponseObject, error) {
	svc, st, err := s.hooks()
	if err != nil {
		return nil, err
	}
	e, secret, err := svc.Rotate(ctx, req.Id, callerFrom(ctx).audit(outbound.ActionRotate))
	if errors.Is(err, db.ErrNotFound) {
		return nil, endpointNotFound()
	}
	if err != nil {
		return nil, err
	}
	v, err := s.endpointOf(ctx, st, e)
	if err != nil {
		return nil, err
	}
	return api.RotateWebhookSecret200JSONResponse{Body: api.WebhookEndpointWithSecret{Endpoint: v, Secret: secret}}, nil
}

func (s *apiServer) SendWebhookTest(ctx context.Context, req api.SendWebhookTestRequestObject) (api.SendWebhookTestResponseObject, error) {
	svc, st, err := s.hooks()
	if err != nil {
		return nil, err
	}
	if _, err := s.targetHook(ctx, st, req.Id); err != nil {
		return nil, err
	}
	m, err := svc.SendTest(ctx, req.Id, callerFrom(ctx).audit(outbound.ActionTest))
	if err != nil {
		return nil, err
	}
	return api.SendWebhookTest202JSONResponse{Body: deliveryOf(m, nil)}, nil
}

// deliveryOf is a message and its attempts as the API shows them.
func deliveryOf(m db.OutboundMessage, attempts []db.OutboundAttempt) api.WebhookDelivery {
	d := api.WebhookDelivery{Id: m.ID, WebhookId: m.MsgID, EndpointId: m.EndpointID, Type: m.Type,
		Status: api.WebhookDeliveryStatus(m.Status), Replay: m.Replay, CreatedAt: m.CreatedAt.UTC(),
		Attempts: make([]api.WebhookAttempt, 0, len(attempts))}
	if m.LinkID != 0 {
		d.LinkId = &m.LinkID
	}
	if m.Status == db.OutboundPending {
		t := m.NextAt.UTC()
		d.NextAttemptAt = &t
	}
	if m.LastError != "" {
		d.LastError = &m.LastError
	}
	for _, at := range attempts {
		x := api.WebhookAttempt{At: at.At.UTC(), DurationMs: at.Duration.Milliseconds()}
		if at.HTTPStatus != 0 {
			x.HttpStatus = &at.HTTPStatus
		}
		if at.Error != "" {
			x.Error = &at.Error
		}
		if at.Response != "" {
			x.ResponseExcerpt = &at.Response
		}
		d.Attempts = append(d.Attempts, x)
	}
	return d
}

// deliveryCursor is the opaque cursor after the message id.
func deliveryCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("d1:" + strconv.FormatInt(id, 10)))
}

func parseDeliveryCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "d1:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(v, 10, 64)
	return id, err == nil && id > 0
}

// ListWebhookDeliveries is an endpoint's delivery log, a page at a time,
// read as the endpoint's page reads it (one read for the attempts).
func (s *apiServer) ListWebhookDeliveries(ctx context.Context, req api.ListWebhookDeliveriesRequestObject) (api.ListWebhookDeliveriesResponseObject, error) {
	_, st, err := s.hooks()
	if err != nil {
		return nil, err
	}
	if _, err := s.targetHook(ctx, st, req.Id); err != nil {
		return nil, err
	}
	f := db.OutboundFilter{EndpointID: req.Id, Limit: apiDefaultLimit}
	if p := req.Params.Limit; p != nil {
		f.Limit = *p
	}
	if c := req.Params.After; c != nil {
		id, ok := parseDeliveryCursor(*c)
		if !ok {
			return nil, unprocessable([]api.FieldError{{Field: "after", Message: "This is not a cursor this API gave: pass next_cursor as it came."}})
		}
		f.Before = id
	}
	limit := f.Limit
	f.Limit++ // one more says whether a next page exists
	ms, err := st.OutboundMessages(ctx, f)
	if err != nil {
		return nil, err
	}
	var out api.WebhookDeliveryPage
	if len(ms) > limit {
		ms = ms[:limit]
		next := deliveryCursor(ms[limit-1].ID)
		out.NextCursor = &next
	}
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	attempts, err := st.OutboundAttemptsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	out.Data = make([]api.WebhookDelivery, 0, len(ms))
	for _, m := range ms {
		out.Data = append(out.Data, deliveryOf(m, attempts[m.ID]))
	}
	return api.ListWebhookDeliveries200JSONResponse(out), nil
}
