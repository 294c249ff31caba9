package github

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeApp is a fake of GitHub's installation token endpoint that checks the
// app's JWT with the app's public key.
type fakeApp struct {
	t        *testing.T
	key      *rsa.PrivateKey
	appID    string
	lifetime []time.Duration // token i expires after lifetime[i]; the last repeats

	mu     sync.Mutex
	issued []string // guarded by mu
}

func (a *fakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	testMethod(a.t, r, "POST")
	jwt, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		a.t.Errorf("token request Authorization is not a bearer JWT")
		http.Error(w, `{"message":"A JSON web token could not be decoded"}`, http.StatusUnauthorized)
		return
	}
	if err := a.verifyJWT(jwt); err != nil {
		a.t.Errorf("verify app JWT: %v", err)
		http.Error(w, `{"message":"bad JWT"}`, http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	n := len(a.issued)
	tok := fmt.Sprintf("ghs_installation_token_%d", n+1)
	a.issued = append(a.issued, tok)
	life := a.lifetime[min(n, len(a.lifetime)-1)]
	a.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"token":%q,"expires_at":%q}`, tok, time.Now().Add(life).UTC().Format(time.RFC3339))
}

// verifyJWT checks an RS256 JWT's signature and its issuer claim.
func (a *fakeApp) verifyJWT(jwt string) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return fmt.Errorf("JWT has %d parts", len(parts))
	}
	var header struct{ Alg string }
	var claims struct {
		Iss string
		Iat int64
		Exp int64
	}
	for i, v := range []any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return fmt.Errorf("decode JWT part %d: %w", i, err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("parse JWT part %d: %w", i, err)
		}
	}
	if header.Alg != "RS256" {
		return fmt.Errorf("alg = %q, want RS256", header.Alg)
	}
	if claims.Iss != a.appID {
		return fmt.Errorf("iss = %q, want %q", claims.Iss, a.appID)
	}
	if claims.Exp <= claims.Iat || claims.Exp-claims.Iat > 600 {
		return fmt.Errorf("JWT lifetime %ds is not within GitHub's 10 minutes", claims.Exp-claims.Iat)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("decode signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return rsa.VerifyPKCS1v15(&a.key.PublicKey, crypto.SHA256, sum[:], sig)
}

func (a *fakeApp) tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.issued...)
}

// newAppKey returns a fresh RSA key and its PKCS#1 PEM encoding, as GitHub
// hands out App private keys.
func newAppKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate RSA key: %v", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func TestAppAuth(t *testing.T) {
	t.Parallel()
	key, keyPEM := newAppKey(t)
	// The first token is within ghinstallation's one-minute refresh margin,
	// so the next use fetches a second one.
	app := &fakeApp{t: t, key: key, appID: "123", lifetime: []time.Duration{30 * time.Second, time.Hour}}
	f := setup(t, Config{AppID: 123, InstallationID: 42, AppKey: keyPEM, Now: time.Now})
	f.mux.Handle("/app/installations/42/access_tokens", app)
	var (
		mu       sync.Mutex
		apiAuths []string // guarded by mu
	)
	f.mux.HandleFunc("/repos/acme/infra/pulls/7", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		apiAuths = append(apiAuths, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprint(w, `{"number":7,"state":"open"}`)
	})
	ctx := context.Background()

	if _, err := f.client.GetPullRequest(ctx, testRepo, 7); err != nil {
		t.Fatalf("GetPullRequest as app: %v", err)
	}
	tok, err := f.client.GitToken(ctx)
	if err != nil {
		t.Fatalf("GitToken: %v", err)
	}
	if tok != "ghs_installation_token_2" {
		t.Errorf("GitToken() = %q, want a refreshed second token", tok)
	}
	if _, err := f.client.GetPullRequest(ctx, testRepo, 7); err != nil {
		t.Fatalf("GetPullRequest as app: %v", err)
	}
	tok2, err := f.client.GitToken(ctx)
	if err != nil || tok2 != tok {
		t.Errorf("GitToken() again = %q, %v; want the cached %q", tok2, err, tok)
	}
	mu.Lock()
	gotAuths := append([]string(nil), apiAuths...)
	mu.Unlock()
	wantAuths := []string{"token ghs_installation_token_1", "token ghs_installation_token_2"}
	if diff := cmp.Diff(wantAuths, gotAuths); diff != "" {
		t.Errorf("API Authorization headers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ghs_installation_token_1", "ghs_installation_token_2"}, app.tokens()); diff != "" {
		t.Errorf("tokens issued (-want +got):\n%s", diff)
	}
	if f.client.GitUser() != "x-access-token" {
		t.Errorf("GitUser() = %q, want x-access-token", f.client.GitUser())
	}
}

func TestAppAuthTokenEndpointFails(t *testing.T) {
	t.Parallel()
	_, keyPEM := newAppKey(t)
	f := setup(t, Config{AppID: 123, InstallationID: 42, AppKey: keyPEM, Now: time.Now})
	f.mux.HandleFunc("/app/installations/42/access_tokens", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"Integration not found"}`, http.StatusNotFound)
	})
	f.mux.HandleFunc("/repos/acme/infra/pulls/7", func(w http.ResponseWriter, r *http.Request) {
		t.Error("API called without an installation token")
	})
	_, err := f.client.GetPullRequest(context.Background(), testRepo, 7)
	if err == nil {
		t.Fatal("GetPullRequest succeeded without a token")
	}
	t.Logf("error: %v", err)
	if _, err := f.client.GitToken(context.Background()); err == nil || !strings.Contains(err.Error(), "installation token") {
		t.Errorf("GitToken error = %v, want it to say the installation token failed", err)
	}
	for _, secret := range []string{"PRIVATE KEY", "Bearer"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks %q: %v", secret, err)
		}
	}
}
