package vcstest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/internal/testenv"
)

const (
	testAppID   = 4242
	testInstall = 777
)

// appKeys are generated once: RSA generation is slow under -race.
var appKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// appKey is the test app's key; otherKey is a key the fake does not know.
func appKey() *rsa.PrivateKey   { return appKeys()[0] }
func otherKey() *rsa.PrivateKey { return appKeys()[1] }

func keyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// appOptions configures the test app, optionally with a static token too.
func appOptions(token string) Options {
	return Options{Token: token, AppID: testAppID, AppPublicKey: &appKey().PublicKey, AppInstallationIDs: []int64{testInstall}}
}

// appsClient is a go-github client that authenticates as the app itself (JWT).
func appsClient(t *testing.T, s *Server, key *rsa.PrivateKey, appID int64) *github.Client {
	t.Helper()
	atr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, appID, keyPEM(key))
	if err != nil {
		t.Fatal(err)
	}
	c := github.NewClient(&http.Client{Transport: atr})
	u, err := url.Parse(s.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// installationTransport is ghinstallation's installation transport pointed at s.
func installationTransport(t *testing.T, s *Server, installation int64) *ghinstallation.Transport {
	t.Helper()
	itr, err := ghinstallation.New(http.DefaultTransport, testAppID, installation, keyPEM(appKey()))
	if err != nil {
		t.Fatal(err)
	}
	itr.BaseURL = strings.TrimSuffix(s.APIURL(), "/")
	return itr
}

// signJWT builds a JWT from header and claims, signed RS256 with key.
func signJWT(t *testing.T, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(header) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestAppInstallationToken exchanges the app's JWT for an installation token
// with go-github and ghinstallation, and uses the token for REST and git, with
// and without a static token configured as well.
func TestAppInstallationToken(t *testing.T) {
	t.Parallel()
	for _, static := range []string{"", testToken} {
		t.Run("static token "+map[bool]string{true: "set", false: "unset"}[static != ""], func(t *testing.T) {
			t.Parallel()
			f := newAppFixture(t, appOptions(static))
			ctx := testCtx(t)

			// go-github's Apps service with ghinstallation's JWT transport.
			before := time.Now()
			tok, resp, err := appsClient(t, f.s, appKey(), testAppID).Apps.CreateInstallationToken(ctx, testInstall, nil)
			if err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("CreateInstallationToken: %v, %v", resp, err)
			}
			if got := tok.GetToken(); !strings.HasPrefix(got, "ghs_") || len(got) != 40 {
				t.Errorf("token %q: want ghs_ and 36 characters", got)
			}
			if exp := tok.GetExpiresAt().Time; exp.Before(before.Add(59*time.Minute)) || exp.After(time.Now().Add(61*time.Minute)) {
				t.Errorf("expires_at %v, want an hour from now", exp)
			}
			// The raw JSON has GitHub's shape: RFC 3339 expiry in UTC.
			var raw struct {
				Token     string `json:"token"`
				ExpiresAt string `json:"expires_at"`
			}
			r2 := rawAppRequest(t, f.s, testInstall, "Bearer "+signJWT(t, appKey(), rs256(), validClaims(testAppID)), "")
			if r2.StatusCode != http.StatusCreated {
				t.Fatalf("raw token request: %d", r2.StatusCode)
			}
			if err := json.NewDecoder(r2.Body).Decode(&raw); err != nil {
				t.Fatal(err)
			}
			if _, err := time.Parse(time.RFC3339, raw.ExpiresAt); err != nil || !strings.HasSuffix(raw.ExpiresAt, "Z") || raw.Token == tok.GetToken() {
				t.Errorf("second token %q expires_at %q (%v): want a new token and RFC 3339 UTC", raw.Token, raw.ExpiresAt, err)
			}

			// The token works for REST, as "token" and "Bearer".
			pr, _, err := newClient(t, f.s, tok.GetToken()).PullRequests.Get(ctx, "acme", "infra", f.num)
			if err != nil || pr.GetNumber() != f.num {
				t.Errorf("get pull with installation token: %v, %v", pr, err)
			}
			if resp := rawRequest(t, http.MethodGet, f.s.APIURL()+"repos/acme/infra", "Bearer "+tok.GetToken()); resp.StatusCode != http.StatusOK {
				t.Errorf("Bearer installation token: %d", resp.StatusCode)
			}

			// ghinstallation's installation transport fetches its own token.
			itr := installationTransport(t, f.s, testInstall)
			gh := github.NewClient(&http.Client{Transport: itr})
			gh.BaseURL = newClient(t, f.s, "").BaseURL
			if _, _, err := gh.Issues.CreateComment(ctx, "acme", "infra", f.num, &github.IssueComment{Body: github.String("as the app")}); err != nil {
				t.Fatalf("comment through ghinstallation: %v", err)
			}
			if got := f.s.Comments(f.repo, f.num); len(got) != 1 || got[0].Body != "as the app" {
				t.Errorf("comments = %+v", got)
			}
			gitTok, err := itr.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}

			// Git over smart HTTP: Basic auth as x-access-token, header and URL forms.
			dir := t.TempDir()
			basic := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+gitTok))
			gitCmd(t, dir, "-c", "http.extraHeader="+basic, "clone", "--quiet", f.repo.CloneURL, "header")
			gitCmd(t, filepath.Join(dir, "header"), "-c", "http.extraHeader="+basic, "fetch", "--quiet", "origin", "+refs/pull/1/head:refs/remotes/origin/pr1")
			if got := gitCmd(t, filepath.Join(dir, "header"), "rev-parse", "refs/remotes/origin/pr1"); got != f.headSHA {
				t.Errorf("fetched pull head %s, want %s", got, f.headSHA)
			}
			authURL := strings.Replace(f.repo.CloneURL, "http://", "http://x-access-token:"+gitTok+"@", 1)
			gitCmd(t, dir, "clone", "--quiet", authURL, "userinfo")
			if out, err := runGit(t, dir, "clone", f.repo.CloneURL, "noauth"); err == nil {
				t.Errorf("clone without credentials succeeded: %s", out)
			}

			// Every token is listed, with what it was used for.
			issued := f.s.IssuedTokens()
			if len(issued) != 3 {
				t.Fatalf("issued %d tokens, want 3: %+v", len(issued), issued)
			}
			for i, it := range issued {
				if it.InstallationID != testInstall {
					t.Errorf("token %d for installation %d", i, it.InstallationID)
				}
			}
			if issued[0].Token != tok.GetToken() || issued[0].APIRequests != 2 || issued[0].GitRequests != 0 {
				t.Errorf("first token: %+v, want 2 API uses", issued[0])
			}
			if issued[2].Token != gitTok || issued[2].APIRequests != 1 || issued[2].GitRequests < 4 {
				t.Errorf("ghinstallation's token: %+v, want 1 API use and the git requests", issued[2])
			}
			// The static token keeps working next to the App.
			if static != "" {
				if resp := rawRequest(t, http.MethodGet, f.s.APIURL()+"repos/acme/infra", "token "+static); resp.StatusCode != http.StatusOK {
					t.Errorf("static token next to the App: %d", resp.StatusCode)
				}
			}
		})
	}
}

// newAppFixture is newFixture without forcing a static token.
func newAppFixture(t *testing.T, opts Options) fixture {
	t.Helper()
	testenv.Git(t)
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	ctx := testCtx(t)
	repo, err := s.CreateRepo(ctx, "acme", "infra", map[string]string{"README.md": "# infra\n"})
	if err != nil {
		t.Fatal(err)
	}
	sha, err := s.Push(ctx, repo, "feature", map[string]string{"network/main.tf": "locals { a = 1 }\n"}, "Change network")
	if err != nil {
		t.Fatal(err)
	}
	num, err := s.OpenPull(ctx, repo, "feature", "main", "Change network", "alice")
	if err != nil {
		t.Fatal(err)
	}
	return fixture{s: s, repo: repo, num: num, headSHA: sha}
}

func rs256() map[string]any { return map[string]any{"alg": "RS256", "typ": "JWT"} }

// validClaims are what ghinstallation sends: iat 30s ago, exp 2 minutes later.
func validClaims(iss any) map[string]any {
	now := time.Now()
	return map[string]any{"iss": iss, "iat": now.Add(-30 * time.Second).Unix(), "exp": now.Add(90 * time.Second).Unix()}
}

// rawAppRequest POSTs to the access_tokens endpoint of installation (a number
// or any path segment) with auth and body.
func rawAppRequest(t *testing.T, s *Server, installation any, auth, body string) *http.Response {
	t.Helper()
	u := s.APIURL() + "app/installations/" + strings.TrimSpace(jsonString(installation)) + "/access_tokens"
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func jsonString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAppTokenRequestRejected covers every way a token request fails: bad
// JWTs get 401, unknown installations 404, scoped tokens 422.
func TestAppTokenRequestRejected(t *testing.T) {
	t.Parallel()
	s := newServer(t, appOptions(testToken))
	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := validClaims(testAppID)
		edit(c)
		return c
	}
	good := signJWT(t, appKey(), rs256(), validClaims(testAppID))
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name         string
		installation any
		auth, body   string
		want         int
	}{
		{"valid", testInstall, "Bearer " + good, "", 201},
		{"valid with iss as a string", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), validClaims("4242")), "", 201},
		{"empty options body", testInstall, "Bearer " + good, "{}", 201},
		{"unknown installation", 778, "Bearer " + good, "", 404},
		{"installation not a number", "abc", "Bearer " + good, "", 404},
		{"unknown installation with a bad jwt", 778, "Bearer " + signJWT(t, otherKey(), rs256(), validClaims(testAppID)), "", 401},
		{"no authorization", testInstall, "", "", 401},
		{"static token", testInstall, "token " + testToken, "", 401},
		{"jwt with the token scheme", testInstall, "token " + good, "", 401},
		{"signed by another key", testInstall, "Bearer " + signJWT(t, otherKey(), rs256(), validClaims(testAppID)), "", 401},
		{"another app's id", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), validClaims(4243)), "", 401},
		{"iss not a number", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), validClaims("my-app")), "", 401},
		{"no iss", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), claims(func(c map[string]any) { delete(c, "iss") })), "", 401},
		{"no iat", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), claims(func(c map[string]any) { delete(c, "iat") })), "", 401},
		{"no exp", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), claims(func(c map[string]any) { delete(c, "exp") })), "", 401},
		{"expired", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), map[string]any{"iss": testAppID, "iat": now.Add(-12 * time.Minute).Unix(), "exp": now.Add(-2 * time.Minute).Unix()}), "", 401},
		{"issued in the future", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), map[string]any{"iss": testAppID, "iat": now.Add(5 * time.Minute).Unix(), "exp": now.Add(8 * time.Minute).Unix()}), "", 401},
		{"exp too far ahead", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), map[string]any{"iss": testAppID, "iat": now.Unix(), "exp": now.Add(20 * time.Minute).Unix()}), "", 401},
		{"exp before iat", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), map[string]any{"iss": testAppID, "iat": now.Unix(), "exp": now.Add(-10 * time.Second).Unix()}), "", 401},
		{"fractional iat", testInstall, "Bearer " + signJWT(t, appKey(), rs256(), map[string]any{"iss": testAppID, "iat": float64(now.Unix()) - 0.5, "exp": now.Add(time.Minute).Unix()}), "", 401},
		{"alg HS256", testInstall, "Bearer " + signJWT(t, appKey(), map[string]any{"alg": "HS256", "typ": "JWT"}, validClaims(testAppID)), "", 401},
		{"alg none", testInstall, "Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", "", 401},
		{"tampered claims", testInstall, "Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":4242,"iat":1,"exp":99999999999}`)) + "." + parts[2], "", 401},
		{"two parts", testInstall, "Bearer " + parts[0] + "." + parts[1], "", 401},
		{"garbage", testInstall, "Bearer not-a-jwt", "", 401},
		{"scoped to repositories", testInstall, "Bearer " + good, `{"repositories":["infra"]}`, 422},
		{"scoped permissions", testInstall, "Bearer " + good, `{"permissions":{"contents":"read"}}`, 422},
		{"bad json body", testInstall, "Bearer " + good, `{`, 400},
	} {
		resp := rawAppRequest(t, s, tc.installation, tc.auth, tc.body)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		var body struct{ Message, Token string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Errorf("%s: body is not JSON: %v", tc.name, err)
		}
		if tc.want != 201 && (body.Message == "" || body.Token != "") {
			t.Errorf("%s: body %+v, want a message and no token", tc.name, body)
		}
		if tc.want == 201 && !strings.HasPrefix(body.Token, "ghs_") {
			t.Errorf("%s: token %q", tc.name, body.Token)
		}
	}
	if n := len(s.IssuedTokens()); n != 3 {
		t.Errorf("issued %d tokens, want 3 (the valid requests)", n)
	}

	// go-github sees the same answers.
	ctx := testCtx(t)
	if _, resp, err := appsClient(t, s, otherKey(), testAppID).Apps.CreateInstallationToken(ctx, testInstall, nil); statusOf(err) != 401 {
		t.Errorf("wrong key through go-github: %v, %v", resp, err)
	}
	if _, _, err := appsClient(t, s, appKey(), testAppID).Apps.CreateInstallationToken(ctx, 778, nil); statusOf(err) != 404 {
		t.Errorf("unknown installation through go-github: %v", err)
	}
	if _, err := installationTransport(t, s, 778).Token(ctx); err == nil {
		t.Error("ghinstallation got a token for an unknown installation")
	}

	// The JWT itself is no credential for the rest of the API or for git.
	if resp := rawRequest(t, http.MethodGet, s.APIURL()+"repos/acme/infra", "Bearer "+good); resp.StatusCode != 401 {
		t.Errorf("JWT as a REST credential: %d", resp.StatusCode)
	}
	if resp := rawRequest(t, http.MethodGet, s.URL()+"/acme/infra.git/info/refs?service=git-upload-pack", "Bearer "+good); resp.StatusCode != 401 {
		t.Errorf("JWT as a git credential: %d", resp.StatusCode)
	}
	// A made-up token of the right shape is refused.
	if resp := rawRequest(t, http.MethodGet, s.APIURL()+"repos/acme/infra", "token ghs_"+strings.Repeat("A", 36)); resp.StatusCode != 401 {
		t.Errorf("unissued ghs_ token: %d", resp.StatusCode)
	}
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex // guards off
	off time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// TestAppInstallationTokenExpires checks a token stops working for REST and
// git an hour after it was issued.
func TestAppInstallationTokenExpires(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	opts := appOptions("")
	opts.Now = clock.Now
	f := newAppFixture(t, opts)
	ctx := testCtx(t)
	tok, _, err := appsClient(t, f.s, appKey(), testAppID).Apps.CreateInstallationToken(ctx, testInstall, nil)
	if err != nil {
		t.Fatal(err)
	}
	gitURL := f.s.URL() + "/acme/infra.git/info/refs?service=git-upload-pack"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tok.GetToken()))
	for _, tc := range []struct {
		name    string
		advance time.Duration
		want    int
	}{
		{"fresh", 0, 200},
		{"59 minutes later", 59 * time.Minute, 200},
		{"an hour later", 2 * time.Minute, 401},
	} {
		clock.Advance(tc.advance)
		if resp := rawRequest(t, http.MethodGet, f.s.APIURL()+"repos/acme/infra", "token "+tok.GetToken()); resp.StatusCode != tc.want {
			t.Errorf("%s: REST status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if resp := rawRequest(t, http.MethodGet, gitURL, basic); resp.StatusCode != tc.want {
			t.Errorf("%s: git status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	if it := f.s.IssuedTokens(); len(it) != 1 || it[0].APIRequests != 2 || it[0].GitRequests != 2 {
		t.Errorf("issued tokens %+v, want one used twice for REST and twice for git", it)
	}
}

// TestAppOptions checks that New refuses a half-configured App, and that
// without an App the access_tokens route does not exist.
func TestAppOptions(t *testing.T) {
	t.Parallel()
	testenv.Git(t)
	pub := &appKey().PublicKey
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"app id without key", Options{AppID: 1}},
		{"key without app id", Options{AppPublicKey: pub}},
		{"installations without app", Options{AppInstallationIDs: []int64{1}}},
		{"negative app id", Options{AppID: -1, AppPublicKey: pub}},
	} {
		tc.opts.Dir = t.TempDir()
		if s, err := New(tc.opts); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	// Without an App nothing changes: no token needed, and no App endpoint.
	s := newServer(t, Options{})
	good := signJWT(t, appKey(), rs256(), validClaims(testAppID))
	if resp := rawAppRequest(t, s, testInstall, "Bearer "+good, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("access_tokens without an App: %d, want 404", resp.StatusCode)
	}
	if resp := rawRequest(t, http.MethodGet, s.APIURL()+"repos/acme/nope", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("open fake without an App: %d, want 404", resp.StatusCode)
	}
	// With an App and no static token, credentials are required.
	app := newServer(t, appOptions(""))
	if resp := rawRequest(t, http.MethodGet, app.APIURL()+"repos/acme/nope", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("App fake without credentials: %d, want 401", resp.StatusCode)
	}
	if resp := rawRequest(t, http.MethodGet, app.URL()+"/acme/nope.git/info/refs?service=git-upload-pack", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("App fake git without credentials: %d, want 401", resp.StatusCode)
	}
}
