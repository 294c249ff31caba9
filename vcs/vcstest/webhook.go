package vcstest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/go-github/v60/github"
)

// ErrNoWebhookURL is returned by SendWebhook and Ping when no webhook URL is set.
var ErrNoWebhookURL = errors.New("vcstest: no webhook url set")

// hookID is the ID of the one webhook the fake has configured.
const hookID int64 = 1

// SendWebhook marshals payload and delivers it as event, signed like GitHub
// signs deliveries, and returns the HTTP status the receiver answered. It
// returns after the receiver answers. A status that is not 2xx is not an error.
func (s *Server) SendWebhook(ctx context.Context, event string, payload any) (int, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("encode %s webhook: %w", event, err)
	}
	s.mu.Lock()
	target := s.webhookURL
	s.mu.Unlock()
	if target == "" {
		return 0, ErrNoWebhookURL
	}
	status, _, err := s.deliver(ctx, target, event, body, SignWithSecret)
	return status, err
}

// SignMode says how SendRawWebhook signs a delivery.
type SignMode int

const (
	// SignWithSecret signs with Options.WebhookSecret, as GitHub does (and
	// sends no signature when the secret is empty).
	SignWithSecret SignMode = iota
	// SignNone sends no X-Hub-Signature-256 or X-Hub-Signature header.
	SignNone
	// SignWrongSecret signs with a secret that is not Options.WebhookSecret,
	// as an attacker who guessed wrong would.
	SignWrongSecret
)

// SendRawWebhook delivers body exactly as given, with X-GitHub-Event: event
// (no such header when event is ""), a fresh delivery ID and the
// signature sign asks for, so tests can send forged, malformed or replayed
// payloads. It returns the status and (up to 1 MiB of) the body the receiver
// answered; a status that is not 2xx is not an error. The delivery is
// recorded in Deliveries.
func (s *Server) SendRawWebhook(ctx context.Context, event string, body []byte, sign SignMode) (int, []byte, error) {
	switch sign {
	case SignWithSecret, SignNone, SignWrongSecret:
	default:
		return 0, nil, fmt.Errorf("send raw %s webhook: unknown sign mode %d", event, sign)
	}
	s.mu.Lock()
	target := s.webhookURL
	s.mu.Unlock()
	if target == "" {
		return 0, nil, ErrNoWebhookURL
	}
	return s.deliver(ctx, target, event, body, sign)
}

// Ping sends a ping event, as GitHub does when a webhook is created.
func (s *Server) Ping(ctx context.Context) (int, error) {
	s.mu.Lock()
	ev := &github.PingEvent{
		Zen:    github.String("Keep it logically awesome."),
		HookID: github.Int64(hookID),
		Hook: &github.Hook{
			ID:     github.Int64(hookID),
			Type:   github.String("Repository"),
			Name:   github.String("web"),
			Active: github.Bool(true),
			Events: []string{"pull_request", "issue_comment"},
		},
		Sender: s.userJSON(s.bot),
	}
	s.mu.Unlock()
	return s.SendWebhook(ctx, "ping", ev)
}

// Deliveries returns every webhook delivery so far, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// sign returns GitHub's signature header value of body: "sha256=" or
// "sha1=" followed by the hex HMAC with the webhook secret.
func sign(secret string, body []byte, sha256Sig bool) string {
	if sha256Sig {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// newDeliveryID returns a random UUID (version 4) like GitHub's delivery IDs.
func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// maxAnswer bounds how much of a receiver's answer is read.
const maxAnswer = 1 << 20

// deliver POSTs body to target as event, signed as mode says, records the
// delivery and returns the receiver's status and answer.
func (s *Server) deliver(ctx context.Context, target, event string, body []byte, mode SignMode) (int, []byte, error) {
	id := newDeliveryID()
	var action struct {
		Action string `json:"action"`
	}
	_ = json.Unmarshal(body, &action)
	d := Delivery{Event: event, Action: action.Action, ID: id, At: s.opts.Now()}

	status, answer, err := func() (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "GitHub-Hookshot/vcstest")
		if event != "" {
			req.Header.Set("X-GitHub-Event", event)
		}
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-GitHub-Hook-ID", fmt.Sprint(hookID))
		secret := s.opts.WebhookSecret
		switch mode {
		case SignNone:
			secret = ""
		case SignWrongSecret:
			secret = "wrong-" + secret // never the configured secret
		}
		if secret != "" {
			req.Header.Set("X-Hub-Signature-256", sign(secret, body, true))
			req.Header.Set("X-Hub-Signature", sign(secret, body, false))
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		// The receiver has answered: a body cut short is still its answer.
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return resp.StatusCode, answer, nil
	}()
	d.Status = status
	if err != nil {
		d.Err = err.Error()
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	s.log.Debug("fake github delivered webhook", "event", event, "action", action.Action,
		"delivery", id, "status", status, "err", err)
	if err != nil {
		return 0, nil, fmt.Errorf("deliver %s webhook %s: %w", event, id, err)
	}
	return status, answer, nil
}

// deliverEvent delivers body if a webhook URL is set; without one the event
// is dropped, as GitHub drops events for a repo without webhooks.
func (s *Server) deliverEvent(ctx context.Context, event string, body []byte) error {
	s.mu.Lock()
	target := s.webhookURL
	s.mu.Unlock()
	if target == "" || body == nil {
		return nil
	}
	status, _, err := s.deliver(ctx, target, event, body, SignWithSecret)
	if err != nil {
		return err
	}
	if status < 200 || status > 299 {
		s.log.Warn("fake github: webhook receiver answered an error", "event", event, "status", status)
	}
	return nil
}

// deliverBackground delivers body on its own goroutine, which Close waits for.
func (s *Server) deliverBackground(event string, body []byte) {
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.deliverEvent(ctx, event, body); err != nil {
			s.log.Warn("fake github: background webhook failed", "event", event, "err", err)
		}
	}()
}

// mustJSON encodes a payload built from go-github types, which always encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("vcstest: encode payload: %v", err))
	}
	return b
}

// pullEventLocked builds a pull_request event payload. Callers hold s.mu.
func (s *Server) pullEventLocked(rs *repoState, is *issue, action, sender, before, after string) []byte {
	ev := &github.PullRequestEvent{
		Action:      github.String(action),
		Number:      github.Int(is.num),
		PullRequest: s.pullJSON(rs, is, nil, "unknown"),
		Repo:        s.repoJSON(rs),
		Sender:      s.userJSON(sender),
	}
	if before != "" {
		ev.Before, ev.After = github.String(before), github.String(after)
	}
	return mustJSON(ev)
}

// commentEventLocked builds an issue_comment "created" payload. Callers hold s.mu.
func (s *Server) commentEventLocked(rs *repoState, is *issue, c *comment) []byte {
	return mustJSON(&github.IssueCommentEvent{
		Action:  github.String("created"),
		Issue:   s.issueJSON(rs, is),
		Comment: s.commentJSON(rs, c),
		Repo:    s.repoJSON(rs),
		Sender:  s.userJSON(c.user),
	})
}
