// Package vcstest is a fake GitHub for Atoll's end-to-end tests and for
// `atoll testdrive`. It serves the parts of GitHub's REST API that Atoll uses
// under the GitHub Enterprise style prefix /api/v3/, hosts bare git
// repositories over smart HTTP (the real `git http-backend`) at
// /{owner}/{name}.git, records the comments and commit statuses Atoll creates,
// and sends signed webhooks (pull_request, issue_comment, ping) the way
// GitHub does.
//
// All JSON is built from go-github v60's own types (except the permission
// answer, whose role_name v60 lacks), so Atoll's real GitHub client
// (vcs/github) works against it unchanged: point its base URL at
// Server.APIURL(). Clone and web URLs then derive to URL()/{owner}/{name}.git
// and URL()/{owner}/{name}/pull/{n} (vcs/github's GitBaseURL), which is
// where the fake serves git and what its payloads' URLs say.
//
// A test drives a scenario with the Server's methods (CreateRepo, Push,
// OpenPull, Comment, CommentOnIssue, Review, DismissReview, SetPermission,
// ClosePull, ...) and checks the outcome with Comments, Issues, Statuses,
// WaitComment, WaitStatus and BranchExists. SendRawWebhook delivers any body
// under any event name, signed, unsigned or signed with the wrong secret, to
// test how a receiver treats forged and replayed deliveries.
//
// Repository roles answer the collaborator permission route as GitHub does:
// a repository's owner is admin, Options.BasePermissions gives users a role
// on every repository (an organisation's base permission), SetPermission
// overrides both for one user on one repository, and everyone else has read
// (the fake's repositories are public). Reviews carry the head commit they
// were made on (commit_id) and submitted_at.
//
// REST routes (all under /api/v3):
//
//	GET    /repos/{o}/{r}
//	GET    /repos/{o}/{r}/branches/{branch}
//	GET    /repos/{o}/{r}/pulls/{n}
//	GET    /repos/{o}/{r}/pulls/{n}/files             paginated
//	GET    /repos/{o}/{r}/pulls/{n}/reviews           paginated
//	POST   /repos/{o}/{r}/check-runs                 201 with an App installation token; 403 otherwise
//	POST   /repos/{o}/{r}/pulls                      201 opened by the bot (webhook "opened"); 422 unknown head or base, or already open
//	PUT    /repos/{o}/{r}/pulls/{n}/merge             200; 405 not mergeable or closed; 409 sha is not the head
//	DELETE /repos/{o}/{r}/git/refs/{ref}              204; 422 missing ref or default branch
//	GET    /repos/{o}/{r}/issues                      paginated; state, labels, creator, sort, direction
//	POST   /repos/{o}/{r}/issues                      201
//	GET    /repos/{o}/{r}/issues/{n}
//	PATCH  /repos/{o}/{r}/issues/{n}                  title, body, labels, state (closing and reopening)
//	GET    /repos/{o}/{r}/issues/{n}/comments         paginated
//	POST   /repos/{o}/{r}/issues/{n}/comments         201; 422 over 65536 characters
//	GET    /repos/{o}/{r}/issues/comments/{id}
//	PATCH  /repos/{o}/{r}/issues/comments/{id}
//	DELETE /repos/{o}/{r}/issues/comments/{id}        204
//	POST   /repos/{o}/{r}/statuses/{sha}              201
//	GET    /repos/{o}/{r}/commits/{ref}/statuses      paginated, newest first
//	GET    /repos/{o}/{r}/commits/{ref}/status        combined status
//	GET    /repos/{o}/{r}/collaborators/{user}/permission  200 permission, role_name, user; 404 impossible login
//	GET    /orgs/{org}/teams/{slug}/memberships/{user} 200 or 404
//	POST   /app/installations/{id}/access_tokens      with Options.AppID: 201; 401 bad JWT; 404 unknown installation
//
// Anything else answers 404 {"message":"Not Found"}. With Options.Token set,
// every request needs the token (401 otherwise). With Options.AppID set, the
// fake is also a GitHub App: a client signs an RS256 JWT with the app's key
// and exchanges it for an installation token ("ghs_...", valid for an hour),
// which every REST and git request then accepts like Options.Token
// (IssuedTokens lists them with their use counts). Git serves clone and fetch
// (including refs/pull/N/head); a push over HTTP may only create new
// branches (a bot's revert branch), because the existing branches change
// only through Push, ClosePull and the merge and ref-deletion endpoints. A merge through the API really merges (merge commit, squash or
// rebase) and sends the pull_request "closed" webhook in the background.
package vcstest

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atollhq/atoll/vcs"
)

// DefaultBotUser is the login that authors comments, statuses and issues
// created through the REST API when Options.BotUser is empty.
const DefaultBotUser = "atoll-bot"

// Options configures a Server.
type Options struct {
	// Dir is where the bare repositories live (t.TempDir() in tests). Required.
	Dir string
	// Token, if set, is required by the REST API ("Authorization: token T" or
	// "Bearer T") and by git (Basic auth with password T and any username, or
	// the same Authorization headers). Requests without it get 401.
	Token string
	// AppID, if set, makes the fake a GitHub App with this ID whose JWTs are
	// verified with AppPublicKey (both or neither). Installation tokens from
	// POST /app/installations/{id}/access_tokens are then accepted wherever
	// Token is, and requests need one of them (or Token) even if Token is empty.
	AppID int64
	// AppPublicKey is the public half of the app's RSA private key.
	AppPublicKey *rsa.PublicKey
	// AppInstallationIDs are the app's installations; asking a token for any
	// other ID gets 404.
	AppInstallationIDs []int64
	// WebhookURL is where events are POSTed. Empty means events are not sent.
	// It can be set later with SetWebhookURL.
	WebhookURL string
	// WebhookSecret signs deliveries (X-Hub-Signature-256 and X-Hub-Signature).
	WebhookSecret string
	// BotUser is the login that authors what the API creates; default DefaultBotUser.
	BotUser string
	// BasePermissions gives users (login -> admin, maintain, write, triage,
	// read or none) a role on every repository, like an organisation's base
	// permission for its members. SetPermission overrides it for one repo;
	// a repository's owner is admin; anyone else has read.
	BasePermissions map[string]string
	// BotCommentEvents makes comments created through the API also send an
	// issue_comment "created" webhook, as GitHub does for a bot's own
	// comments. Those deliveries run in the background (so a client that is
	// waiting for its API call is never blocked on its own webhook handler);
	// Close waits for them.
	BotCommentEvents bool
	// Logger receives request and delivery logs; nil discards them.
	Logger *slog.Logger
	// OnComment, if set, is called after the API creates or edits a comment
	// (testdrive prints them). It runs on the request's goroutine with no
	// lock held, before the API call returns to its client, so it should be quick.
	OnComment func(c RecordedComment)
	// Addr is the listen address; default "127.0.0.1:0".
	Addr string
	// Now returns the current time for timestamps; default time.Now.
	Now func() time.Time
}

// Server is a running fake GitHub. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	bot     string
	url     string
	httpSrv *http.Server
	serveWG sync.WaitGroup // the Serve goroutine
	bgWG    sync.WaitGroup // background webhook deliveries
	gitBin  string
	cgi     http.Handler // git http-backend
	client  *http.Client // webhook deliveries

	// gitMu serialises git writes (commits, merges, ref updates) so that a
	// Push and a merge on the same repo never race. Never taken while mu is held.
	gitMu sync.Mutex

	// mu guards everything below: repos (with their issues, pulls, reviews),
	// comments, statuses, teams, deliveries, the ID counter, the webhook URL
	// and the changed channel. It is never held while running git or
	// delivering a webhook.
	mu         sync.Mutex
	repos      map[string]*repoState // by "owner/name"
	comments   map[int64]*comment    // by comment ID, across all repos
	statuses   map[string][]*status  // by "owner/name@sha", oldest first
	teams      map[string]map[string]bool
	deliveries []Delivery
	nextID     int64
	users      map[string]int64
	webhookURL string
	// basePerms is Options.BasePermissions parsed, by lowercase login; read-only after New.
	basePerms map[string]vcs.Permission
	// installTokens are the installation tokens issued, by token; tokenOrder
	// lists them oldest first.
	installTokens map[string]*installToken
	tokenOrder    []string
	// checkRuns are the check runs created, by repository full name.
	checkRuns map[string][]RecordedCheckRun
	// changed is closed and replaced whenever a comment or status is
	// recorded, waking WaitComment and WaitStatus.
	changed chan struct{}
	// pullLists counts GET .../pulls calls; pullListsNotModified those
	// answered 304.
	pullLists, pullListsNotModified int
}

// New starts a fake GitHub listening on opts.Addr.
func New(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("start fake github: Options.Dir is required")
	}
	if err := checkAppOptions(opts); err != nil {
		return nil, fmt.Errorf("start fake github: %w", err)
	}
	basePerms, err := parseRoles(opts.BasePermissions)
	if err != nil {
		return nil, fmt.Errorf("start fake github: %w", err)
	}
	gitBin, cgiHandler, err := newGitBackend(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("start fake github: %w", err)
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:       opts,
		log:        opts.Logger,
		bot:        opts.BotUser,
		gitBin:     gitBin,
		cgi:        cgiHandler,
		client:     &http.Client{Timeout: 60 * time.Second},
		repos:      map[string]*repoState{},
		comments:   map[int64]*comment{},
		statuses:   map[string][]*status{},
		teams:      map[string]map[string]bool{},
		users:      map[string]int64{},
		nextID:     1000,
		webhookURL: opts.WebhookURL,
		basePerms:  basePerms,
		changed:    make(chan struct{}),

		installTokens: map[string]*installToken{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.bot == "" {
		s.bot = DefaultBotUser
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("start fake github: listen on %s: %w", opts.Addr, err)
	}
	s.url = "http://" + ln.Addr().String()
	s.httpSrv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("fake github stopped serving", "err", err)
		}
	}()
	return s, nil
}

// Close stops the server: it waits up to five seconds for requests in flight,
// then closes connections, and waits for background webhook deliveries.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.httpSrv.Shutdown(ctx); err != nil {
		_ = s.httpSrv.Close()
	}
	s.serveWG.Wait()
	s.bgWG.Wait()
}

// URL returns the server's base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return s.url }

// APIURL returns the REST API's base URL, URL()+"/api/v3/", the value to give
// go-github as BaseURL.
func (s *Server) APIURL() string { return s.url + "/api/v3/" }

// BotUser returns the login that authors what the API creates.
func (s *Server) BotUser() string { return s.bot }

// SetWebhookURL sets where events are POSTed; "" stops sending them.
func (s *Server) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = u
}

// routes builds the HTTP handler: REST under /api/v3/, git everywhere else.
func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	const p = "/api/v3/repos/{owner}/{repo}"
	api.HandleFunc("GET "+p, s.getRepo)
	api.HandleFunc("GET "+p+"/branches/{branch...}", s.getBranch)
	api.HandleFunc("GET "+p+"/pulls", s.listPulls)
	api.HandleFunc("GET "+p+"/pulls/{num}", s.getPull)
	api.HandleFunc("GET "+p+"/pulls/{num}/files", s.listPullFiles)
	api.HandleFunc("GET "+p+"/pulls/{num}/reviews", s.listReviews)
	api.HandleFunc("PUT "+p+"/pulls/{num}/merge", s.mergePullAPI)
	api.HandleFunc("POST "+p+"/pulls", s.createPullAPI)
	api.HandleFunc("POST "+p+"/check-runs", s.createCheckRunAPI)
	api.HandleFunc("DELETE "+p+"/git/refs/{ref...}", s.deleteRefAPI)
	api.HandleFunc("GET "+p+"/issues", s.listIssues)
	api.HandleFunc("POST "+p+"/issues", s.createIssue)
	api.HandleFunc("GET "+p+"/issues/{num}", s.getIssue)
	api.HandleFunc("PATCH "+p+"/issues/{num}", s.editIssue)
	// GET issues/{num}/comments and GET issues/comments/{id} overlap as mux
	// patterns, so one handler tells them apart.
	api.HandleFunc("GET "+p+"/issues/{a}/{b}", func(w http.ResponseWriter, r *http.Request) {
		switch a, b := r.PathValue("a"), r.PathValue("b"); {
		case a == "comments":
			r.SetPathValue("id", b)
			s.getComment(w, r)
		case b == "comments":
			r.SetPathValue("num", a)
			s.listComments(w, r)
		default:
			writeError(w, http.StatusNotFound, "Not Found")
		}
	})
	api.HandleFunc("POST "+p+"/issues/{num}/comments", s.createComment)
	api.HandleFunc("PATCH "+p+"/issues/comments/{id}", s.editComment)
	api.HandleFunc("DELETE "+p+"/issues/comments/{id}", s.deleteComment)
	api.HandleFunc("POST "+p+"/statuses/{sha}", s.createStatus)
	api.HandleFunc("GET "+p+"/commits/{rest...}", s.commitStatuses)
	api.HandleFunc("GET "+p+"/collaborators/{user}/permission", s.getPermission)
	api.HandleFunc("GET /api/v3/orgs/{org}/teams/{slug}/memberships/{user}", s.getTeamMembership)
	api.HandleFunc("GET /api/v3/rate_limit", s.getRateLimit)
	api.HandleFunc("/api/v3/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})

	app := s.appRoutes() // nil without an App

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		isAPI := r.URL.Path == "/api/v3" || strings.HasPrefix(r.URL.Path, "/api/v3/")
		switch {
		case isAPI && app != nil && isRoute(app, r):
			// The App endpoints check the app's JWT themselves.
			s.rateHeaders(rec)
			app.ServeHTTP(rec, r)
		case isAPI && !s.authorized(r, false):
			writeError(rec, http.StatusUnauthorized, authMessage(r))
		case isAPI:
			s.rateHeaders(rec)
			api.ServeHTTP(rec, r)
		case !s.authorized(r, true):
			rec.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
			http.Error(rec, "authentication required", http.StatusUnauthorized)
		default:
			s.serveGit(rec, r)
		}
		// The query and headers are not logged: they may carry credentials.
		s.log.Debug("fake github request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start))
	})
}

// isRoute reports whether mux has a route for r.
func isRoute(mux *http.ServeMux, r *http.Request) bool {
	_, pattern := mux.Handler(r)
	return pattern != ""
}

// authorized reports whether r carries the configured token or a current
// installation token (always true when neither a token nor an App is
// configured); git says whether r is a git request, for the token's use counts.
func (s *Server) authorized(r *http.Request, git bool) bool {
	if s.opts.Token == "" && s.opts.AppID == 0 {
		return true
	}
	got := credential(r)
	if s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1 {
		return true
	}
	return s.useInstallToken(got, git)
}

// credential returns the token r carries: the Basic auth password (or the
// user name when the password is empty), or the credential of a "token" or
// "Bearer" Authorization header; "" when there is none.
func credential(r *http.Request) string {
	got := ""
	if user, pass, ok := r.BasicAuth(); ok {
		got = pass
		if pass == "" {
			got = user // "curl -u TOKEN:" style
		}
	} else if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		switch strings.ToLower(scheme) {
		case "token", "bearer":
			got = strings.TrimSpace(cred)
		case "basic":
			if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
				_, got, _ = strings.Cut(string(raw), ":")
			}
		}
	}
	return got
}

func authMessage(r *http.Request) string {
	if r.Header.Get("Authorization") == "" {
		return "Requires authentication"
	}
	return "Bad credentials"
}

// rateHeaders sets GitHub's rate limit headers with a generous budget, so
// clients that watch them see a healthy API.
func (s *Server) rateHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Used", "1")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.opts.Now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// statusRecorder remembers the status code written, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush lets git http-backend stream through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// apiError is GitHub's error body.
type apiError struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url,omitempty"`
}

// fieldError is one entry of a 422's "errors" list, as go-github's github.Error reads it.
type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Message: msg, DocumentationURL: "https://docs.github.com/rest"})
}

func writeValidation(w http.ResponseWriter, errs ...fieldError) {
	writeJSON(w, http.StatusUnprocessableEntity, apiError{
		Message:          "Validation Failed",
		Errors:           errs,
		DocumentationURL: "https://docs.github.com/rest",
	})
}

// decodeBody reads a JSON request body into v, answering 400 on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 10<<20))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// pathInt parses the path value name as a positive integer, answering 404 on failure.
func pathInt(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n <= 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return 0, false
	}
	return n, true
}

// ErrUnknown is returned (wrapped) by the Server's scenario methods for a repo,
// pull request, issue or comment that does not exist.
var ErrUnknown = fmt.Errorf("vcstest: %w", vcs.ErrNotFound)
