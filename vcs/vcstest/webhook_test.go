package vcstest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"
)

const testSecret = "webhook-secret"

// received is one verified, parsed webhook.
type received struct {
	event    string
	delivery string
	payload  any
}

// newReceiver starts a webhook receiver that verifies deliveries with
// secret (github.ValidatePayload), parses them (github.ParseWebHook) and
// sends them on the returned channel. Bad signatures get 401.
func newReceiver(t *testing.T, secret string) (*httptest.Server, <-chan received) {
	t.Helper()
	ch := make(chan received, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := github.ValidatePayload(r, []byte(secret))
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad content type", http.StatusBadRequest)
			return
		}
		ev, err := github.ParseWebHook(github.WebHookType(r), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ch <- received{event: github.WebHookType(r), delivery: github.DeliveryID(r), payload: ev}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func next(t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook received")
		return received{}
	}
}

func TestWebhookEvents(t *testing.T) {
	t.Parallel()
	recv, ch := newReceiver(t, testSecret)
	f := newFixture(t, Options{WebhookURL: recv.URL, WebhookSecret: testSecret})
	ctx := testCtx(t)

	// The fixture's OpenPull already delivered "opened".
	opened := next(t, ch)
	pe, ok := opened.payload.(*github.PullRequestEvent)
	if !ok {
		t.Fatalf("first event is %T, want *github.PullRequestEvent", opened.payload)
	}
	if pe.GetAction() != "opened" || pe.GetNumber() != f.num || pe.GetPullRequest().GetHead().GetSHA() != f.headSHA ||
		pe.GetRepo().GetFullName() != "acme/infra" || pe.GetSender().GetLogin() != "alice" ||
		pe.GetPullRequest().GetBase().GetRepo().GetCloneURL() != f.repo.CloneURL {
		t.Errorf("opened event = %+v", pe)
	}

	sha, err := f.s.Push(ctx, f.repo, "feature", map[string]string{"network/new.tf": "locals { x = 2 }\n"}, "more")
	if err != nil {
		t.Fatal(err)
	}
	sync := next(t, ch).payload.(*github.PullRequestEvent)
	if sync.GetAction() != "synchronize" || sync.GetBefore() != f.headSHA || sync.GetAfter() != sha || sync.GetPullRequest().GetHead().GetSHA() != sha {
		t.Errorf("synchronize event: action %s before %s after %s head %s", sync.GetAction(), sync.GetBefore(), sync.GetAfter(), sync.GetPullRequest().GetHead().GetSHA())
	}

	id, err := f.s.Comment(ctx, f.repo, f.num, "bob", "atoll plan -d network")
	if err != nil {
		t.Fatal(err)
	}
	ce, ok := next(t, ch).payload.(*github.IssueCommentEvent)
	if !ok {
		t.Fatal("comment event has the wrong type")
	}
	if ce.GetAction() != "created" || !ce.GetIssue().IsPullRequest() || ce.GetIssue().GetNumber() != f.num ||
		ce.GetComment().GetID() != id || ce.GetComment().GetBody() != "atoll plan -d network" ||
		ce.GetComment().GetUser().GetLogin() != "bob" || ce.GetSender().GetLogin() != "bob" || ce.GetRepo().GetFullName() != "acme/infra" {
		t.Errorf("issue_comment event = %+v", ce)
	}

	if err := f.s.ClosePull(ctx, f.repo, f.num, false); err != nil {
		t.Fatal(err)
	}
	if err := f.s.ReopenPull(ctx, f.repo, f.num); err != nil {
		t.Fatal(err)
	}
	if err := f.s.ClosePull(ctx, f.repo, f.num, true); err != nil {
		t.Fatal(err)
	}
	type pr struct {
		Action string
		Merged bool
	}
	var got []pr
	for range 3 {
		ev := next(t, ch).payload.(*github.PullRequestEvent)
		got = append(got, pr{ev.GetAction(), ev.GetPullRequest().GetMerged()})
	}
	if diff := cmp.Diff([]pr{{"closed", false}, {"reopened", false}, {"closed", true}}, got); diff != "" {
		t.Errorf("close/reopen/merge events (-want +got):\n%s", diff)
	}

	status, err := f.s.Ping(ctx)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("Ping = %d, %v", status, err)
	}
	if ping, ok := next(t, ch).payload.(*github.PingEvent); !ok || ping.GetHookID() != hookID {
		t.Errorf("ping event = %+v", ping)
	}

	type dv struct {
		Event, Action string
		Status        int
	}
	var ds []dv
	ids := map[string]bool{}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, d := range f.s.Deliveries() {
		ds = append(ds, dv{d.Event, d.Action, d.Status})
		ids[d.ID] = true
		if !uuid.MatchString(d.ID) {
			t.Errorf("delivery ID %q is not a UUID", d.ID)
		}
	}
	want := []dv{
		{"pull_request", "opened", 202}, {"pull_request", "synchronize", 202}, {"issue_comment", "created", 202},
		{"pull_request", "closed", 202}, {"pull_request", "reopened", 202}, {"pull_request", "closed", 202},
		{"ping", "", 202},
	}
	if diff := cmp.Diff(want, ds); diff != "" {
		t.Errorf("Deliveries (-want +got):\n%s", diff)
	}
	if len(ids) != len(want) {
		t.Errorf("%d distinct delivery IDs, want %d", len(ids), len(want))
	}
}

func TestWebhookSignatureAndFailures(t *testing.T) {
	t.Parallel()
	recv, ch := newReceiver(t, testSecret)
	s := newServer(t, Options{WebhookSecret: "some-other-secret"})
	ctx := testCtx(t)

	if _, err := s.SendWebhook(ctx, "ping", map[string]any{"zen": "x"}); !errors.Is(err, ErrNoWebhookURL) {
		t.Errorf("SendWebhook without URL: %v, want ErrNoWebhookURL", err)
	}
	s.SetWebhookURL(recv.URL)
	status, err := s.SendWebhook(ctx, "ping", &github.PingEvent{Zen: github.String("x")})
	if err != nil || status != http.StatusUnauthorized {
		t.Errorf("wrongly signed delivery: %d, %v; want 401 and no error", status, err)
	}
	select {
	case r := <-ch:
		t.Errorf("receiver accepted a wrongly signed %s", r.event)
	default:
	}

	// An unreachable receiver makes the scenario call fail and is recorded.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	s.SetWebhookURL(deadURL)
	repo, err := s.CreateRepo(ctx, "acme", "infra", map[string]string{"a.tf": "locals {}\n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(ctx, repo, "b", map[string]string{"b.tf": "locals {}\n"}, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenPull(ctx, repo, "b", "main", "B", "alice"); err == nil {
		t.Error("OpenPull with an unreachable receiver succeeded")
	}
	ds := s.Deliveries()
	if last := ds[len(ds)-1]; last.Status != 0 || last.Err == "" || last.Event != "pull_request" {
		t.Errorf("last delivery = %+v, want a recorded failure", last)
	}
}

func TestBotCommentEvents(t *testing.T) {
	t.Parallel()
	recv, ch := newReceiver(t, testSecret)
	f := newFixture(t, Options{WebhookURL: recv.URL, WebhookSecret: testSecret, BotCommentEvents: true, BotUser: "atoll[bot]"})
	next(t, ch) // opened
	c, _, err := f.gh.Issues.CreateComment(testCtx(t), "acme", "infra", f.num, &github.IssueComment{Body: github.String("Plan: 1 to add")})
	if err != nil {
		t.Fatal(err)
	}
	ce, ok := next(t, ch).payload.(*github.IssueCommentEvent)
	if !ok {
		t.Fatal("bot comment event has the wrong type")
	}
	if ce.GetComment().GetID() != c.GetID() || ce.GetSender().GetLogin() != "atoll[bot]" || ce.GetSender().GetType() != "Bot" {
		t.Errorf("bot comment event: id %d sender %s type %s", ce.GetComment().GetID(), ce.GetSender().GetLogin(), ce.GetSender().GetType())
	}
}
