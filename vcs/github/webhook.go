package github

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// MaxPayloadBytes is the largest webhook body Parse reads: GitHub caps
// payloads at 25 MB.
const MaxPayloadBytes = 25 << 20

// WebhookParser verifies GitHub webhook deliveries and turns them into
// vcs.Event values. The zero value accepts unsigned webhooks from github.com
// and builds URLs under https://github.com.
//
// Nothing a payload says about where things live is trusted: clone URLs and
// web URLs are built from GitURL and the repositories' names, which must be
// names GitHub allows (otherwise Parse fails with vcs.ErrBadRequest).
type WebhookParser struct {
	// Secret is the webhook secret. When set, every delivery must carry a
	// valid X-Hub-Signature-256; when empty, signatures are not checked.
	Secret []byte
	// Hostname becomes vcs.Repo.Host; empty means "github.com".
	Hostname string
	// GitURL is the base of clone URLs (GitURL/owner/name.git) and web URLs
	// (GitURL/owner/name/pull/N), the same value as Client.GitURL() or
	// GitBaseURL(hostname, apiURL) of the client's configuration. Empty
	// means GitBaseURL(Hostname, ""): https://github.com or https://HOSTNAME,
	// which is wrong for a custom API URL (the fake GitHub, for one), so set
	// it whenever the client has one.
	GitURL string
	// BotUser is Atoll's own login; its comments are ignored so Atoll never
	// answers itself. Compared case-insensitively.
	BotUser string
}

// Parse reads, verifies and parses one delivery. Signature failures wrap
// vcs.ErrBadSignature; unreadable or malformed requests, including a
// repository name GitHub does not allow and a pull_request or issue_comment
// event without a repository, wrap vcs.ErrBadRequest. An invalid GitURL is
// an error wrapping neither. Events Atoll does not act on parse to
// vcs.EventIgnored with a Reason. Every event carries the SHA-256 of the raw
// body in BodyDigest. Parse reads at most MaxPayloadBytes of the body.
func (p *WebhookParser) Parse(r *http.Request) (vcs.Event, error) {
	gitBase, err := p.gitBase()
	if err != nil {
		// A configuration mistake: neither the sender's fault nor a forgery.
		return vcs.Event{}, fmt.Errorf("configure webhook parser: %w", err)
	}
	if r.Body == nil {
		return vcs.Event{}, fmt.Errorf("%w: no body", vcs.ErrBadRequest)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		return vcs.Event{}, fmt.Errorf("%w: read body: %w", vcs.ErrBadRequest, err)
	}
	if len(body) > MaxPayloadBytes {
		return vcs.Event{}, fmt.Errorf("%w: body larger than %d bytes", vcs.ErrBadRequest, MaxPayloadBytes)
	}
	if len(p.Secret) > 0 {
		sig := r.Header.Get(gh.SHA256SignatureHeader)
		if sig == "" {
			return vcs.Event{}, fmt.Errorf("%w: missing %s header", vcs.ErrBadSignature, gh.SHA256SignatureHeader)
		}
		if !strings.HasPrefix(sig, "sha256=") {
			return vcs.Event{}, fmt.Errorf("%w: %s is not sha256", vcs.ErrBadSignature, gh.SHA256SignatureHeader)
		}
		// Constant-time HMAC comparison of the raw body.
		if err := gh.ValidateSignature(sig, body, p.Secret); err != nil {
			return vcs.Event{}, fmt.Errorf("%w: %w", vcs.ErrBadSignature, err)
		}
	}

	kind := gh.WebHookType(r)
	if kind == "" {
		return vcs.Event{}, fmt.Errorf("%w: missing %s header", vcs.ErrBadRequest, gh.EventTypeHeader)
	}
	payload, err := webhookPayload(r.Header.Get("Content-Type"), body)
	if err != nil {
		return vcs.Event{}, err
	}
	digest := sha256.Sum256(body)
	ev := vcs.Event{DeliveryID: gh.DeliveryID(r), BodyDigest: hex.EncodeToString(digest[:])}
	if err := p.parsePayload(kind, payload, gitBase, &ev); err != nil {
		return vcs.Event{}, err
	}
	return ev, nil
}

// gitBase returns the base of clone and web URLs, GitURL without a trailing
// slash or the default for Hostname.
func (p *WebhookParser) gitBase() (string, error) {
	if p.GitURL == "" {
		return GitBaseURL(p.Hostname, "")
	}
	u, err := parseBaseURL("GitURL", p.GitURL)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// webhookPayload extracts the JSON payload for either content type GitHub
// can be configured to send.
func webhookPayload(contentType string, body []byte) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: content type %q: %w", vcs.ErrBadRequest, contentType, err)
	}
	var payload []byte
	switch mt {
	case "application/json":
		payload = body
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("%w: parse form body: %w", vcs.ErrBadRequest, err)
		}
		payload = []byte(form.Get("payload"))
	default:
		return nil, fmt.Errorf("%w: unsupported content type %q", vcs.ErrBadRequest, mt)
	}
	if !json.Valid(payload) {
		return nil, fmt.Errorf("%w: payload is not valid JSON", vcs.ErrBadRequest)
	}
	return payload, nil
}

// parsePayload fills ev from a verified JSON payload of event type kind,
// building URLs under gitBase.
func (p *WebhookParser) parsePayload(kind string, payload []byte, gitBase string, ev *vcs.Event) error {
	host := p.Hostname
	if host == "" {
		host = DefaultHostname
	}
	// eventRepo converts the event's repository, which pull_request and
	// issue_comment events always carry.
	eventRepo := func(r *gh.Repository) error {
		if r == nil {
			return fmt.Errorf("%w: %s event without a repository", vcs.ErrBadRequest, kind)
		}
		repo, err := repoFromGitHub(host, gitBase, r)
		if err != nil {
			return fmt.Errorf("%w: repository: %w", vcs.ErrBadRequest, err)
		}
		ev.Repo = repo
		return nil
	}
	switch kind {
	case "ping":
		var e gh.PingEvent
		if err := unmarshalObject(payload, &e); err != nil {
			return err
		}
		ev.Kind = vcs.EventPing
		ev.Sender = e.GetSender().GetLogin()
		if e.Repo != nil { // an App's ping has none
			return eventRepo(e.Repo)
		}
		return nil

	case "pull_request":
		var e gh.PullRequestEvent
		if err := unmarshalObject(payload, &e); err != nil {
			return err
		}
		ev.Sender = e.GetSender().GetLogin()
		if err := eventRepo(e.Repo); err != nil {
			return err
		}
		if e.PullRequest == nil {
			ev.Reason = "pull_request event without a pull request"
			return nil
		}
		pull, err := pullFromGitHub(host, gitBase, e.PullRequest)
		if err != nil {
			return fmt.Errorf("%w: pull request: %w", vcs.ErrBadRequest, err)
		}
		ev.Pull = pull
		// The event's repository is the base repo, with full details.
		ev.Pull.BaseRepo = ev.Repo
		if ev.Pull.Num == 0 {
			ev.Pull.Num = e.GetNumber()
		}
		ev.Pull.URL = ""
		if ev.Pull.Num > 0 {
			ev.Pull.URL = webURL(gitBase, ev.Repo, "pull", ev.Pull.Num)
		}
		switch action := e.GetAction(); action {
		case "opened", "reopened":
			ev.Kind = vcs.EventPullOpened
		case "synchronize":
			ev.Kind = vcs.EventPullUpdated
		case "closed":
			ev.Kind = vcs.EventPullClosed
			if ev.Pull.State != vcs.PullMerged {
				ev.Pull.State = vcs.PullClosed
			}
		default:
			ev.Reason = fmt.Sprintf("pull_request action %q is not handled", action)
		}
		return nil

	case "issue_comment":
		var e gh.IssueCommentEvent
		if err := unmarshalObject(payload, &e); err != nil {
			return err
		}
		ev.Sender = e.GetSender().GetLogin()
		if err := eventRepo(e.Repo); err != nil {
			return err
		}
		ev.Pull = vcs.PullRequest{
			BaseRepo: ev.Repo,
			Num:      e.GetIssue().GetNumber(),
			Title:    e.GetIssue().GetTitle(),
			Author:   e.GetIssue().GetUser().GetLogin(),
		}
		ev.Comment = vcs.Comment{
			ID:   e.GetComment().GetID(),
			Body: e.GetComment().GetBody(),
			User: e.GetComment().GetUser().GetLogin(),
			// A signed delivery stays valid forever: the server refuses old
			// comments once its replay log may have forgotten them.
			CreatedAt: e.GetComment().GetCreatedAt().Time,
		}
		isPull := e.GetIssue().GetPullRequestLinks() != nil // IsPullRequest panics on a nil issue
		if n := ev.Pull.Num; n > 0 {
			if isPull {
				ev.Pull.URL = webURL(gitBase, ev.Repo, "pull", n)
			} else {
				ev.Pull.URL = webURL(gitBase, ev.Repo, "issues", n)
			}
		}
		switch action := e.GetAction(); {
		case action != "created":
			ev.Reason = fmt.Sprintf("issue_comment action %q is not handled", action)
		case e.Issue == nil || e.Comment == nil:
			ev.Reason = "issue_comment event without an issue or comment"
		case p.BotUser != "" && strings.EqualFold(ev.Comment.User, p.BotUser):
			ev.Reason = "comment by the bot user itself"
		case !isPull:
			ev.Kind = vcs.EventIssueComment
		default:
			ev.Kind = vcs.EventComment
		}
		return nil
	}
	switch kind {
	case "merge_group":
		return parseMergeGroup(payload, ev, eventRepo)
	case "check_run":
		return parseCheckRun(payload, gitBase, ev, eventRepo)
	}
	ev.Reason = fmt.Sprintf("event %q is not handled", kind)
	return nil
}

// parseMergeGroup fills ev from a merge_group event: a merge queue's
// temporary branch (gh-readonly-queue/...) asks for the required checks.
func parseMergeGroup(payload []byte, ev *vcs.Event, eventRepo func(*gh.Repository) error) error {
	var e gh.MergeGroupEvent
	if err := unmarshalObject(payload, &e); err != nil {
		return err
	}
	ev.Sender = e.GetSender().GetLogin()
	if err := eventRepo(e.Repo); err != nil {
		return err
	}
	if action := e.GetAction(); action != "checks_requested" {
		ev.Reason = fmt.Sprintf("merge_group action %q is not handled", action)
		return nil
	}
	g := e.GetMergeGroup()
	head, headOK := strings.CutPrefix(g.GetHeadRef(), "refs/heads/")
	base, baseOK := strings.CutPrefix(g.GetBaseRef(), "refs/heads/")
	if g == nil || !headOK || !baseOK || head == "" || base == "" || !shaRe.MatchString(g.GetHeadSHA()) || !shaRe.MatchString(g.GetBaseSHA()) {
		return fmt.Errorf("%w: merge_group without valid head and base refs and SHAs", vcs.ErrBadRequest)
	}
	ev.Kind = vcs.EventMergeGroup
	ev.Pull = vcs.PullRequest{BaseRepo: ev.Repo, HeadRepo: ev.Repo, HeadSHA: g.GetHeadSHA(), HeadBranch: head,
		BaseSHA: g.GetBaseSHA(), BaseBranch: base, State: vcs.PullOpen}
	return nil
}

// CheckExternalIDPrefix starts the external ID of every check run Atoll
// creates; a rerequest of any other check run is ignored.
const CheckExternalIDPrefix = "atoll:"

// parseCheckRun fills ev from a check_run event: "rerequested" on one of
// Atoll's check runs is a request to run that check again.
func parseCheckRun(payload []byte, gitBase string, ev *vcs.Event, eventRepo func(*gh.Repository) error) error {
	var e gh.CheckRunEvent
	if err := unmarshalObject(payload, &e); err != nil {
		return err
	}
	ev.Sender = e.GetSender().GetLogin()
	if err := eventRepo(e.Repo); err != nil {
		return err
	}
	cr := e.GetCheckRun()
	switch {
	case e.GetAction() != "rerequested":
		ev.Reason = fmt.Sprintf("check_run action %q is not handled", e.GetAction())
		return nil
	case !strings.HasPrefix(cr.GetExternalID(), CheckExternalIDPrefix):
		ev.Reason = "check_run of another app"
		return nil
	case len(cr.PullRequests) == 0 || cr.PullRequests[0].GetNumber() <= 0:
		ev.Reason = "check_run not on a pull request"
		return nil
	case !shaRe.MatchString(cr.GetHeadSHA()):
		return fmt.Errorf("%w: check_run without a valid head SHA", vcs.ErrBadRequest)
	}
	n := cr.PullRequests[0].GetNumber()
	ev.Kind = vcs.EventCheckRerun
	ev.CheckExternalID = cr.GetExternalID()
	ev.Pull = vcs.PullRequest{BaseRepo: ev.Repo, Num: n, HeadSHA: cr.GetHeadSHA(), URL: webURL(gitBase, ev.Repo, "pull", n)}
	return nil
}

// shaRe matches a full commit SHA (SHA-1 or SHA-256).
var shaRe = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// unmarshalObject decodes a JSON object payload, mapping failures (including
// a payload that is not an object) to vcs.ErrBadRequest.
func unmarshalObject(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: decode payload: %w", vcs.ErrBadRequest, err)
	}
	return nil
}
