package vcstest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// GitHub App authentication, as GitHub does it: the app signs a short-lived
// RS256 JWT with its private key (iss = app ID) and exchanges it at
// POST /app/installations/{id}/access_tokens for an installation access token
// ("ghs_..."), valid for an hour, which then works like a personal access
// token for the REST API and for git over HTTPS.

const (
	// installTokenTTL is how long an installation token lives, as on GitHub.
	installTokenTTL = time.Hour
	// jwtMaxLifetime is how far in the future a JWT's exp may be, as on GitHub.
	jwtMaxLifetime = 10 * time.Minute
	// jwtClockSkew is the clock drift tolerated on iat and exp.
	jwtClockSkew = time.Minute
	// installTokenPrefix starts every installation token GitHub issues.
	installTokenPrefix = "ghs_"
)

// IssuedToken is an installation access token the fake GitHub handed out,
// with how often it has been used since. Tests use it to prove that a client
// really authenticated as the app, and to look for the token where it must
// never appear (logs, comments, files).
type IssuedToken struct {
	// InstallationID is the installation the token was issued for.
	InstallationID int64
	// Token is the token itself, "ghs_" and 36 letters and digits.
	Token string
	// ExpiresAt is when the fake stops accepting it, an hour after issue.
	ExpiresAt time.Time
	// APIRequests counts REST requests authenticated with the token.
	APIRequests int
	// GitRequests counts git smart-HTTP requests authenticated with the token.
	GitRequests int
}

// installToken is the state of one issued installation token; guarded by Server.mu.
type installToken struct {
	installation int64
	expires      time.Time
	apiUses      int
	gitUses      int
}

// checkAppOptions reports an inconsistent GitHub App configuration.
func checkAppOptions(opts Options) error {
	switch {
	case opts.AppID < 0:
		return errors.New("Options.AppID must be positive")
	case opts.AppID != 0 && opts.AppPublicKey == nil:
		return errors.New("Options.AppID needs Options.AppPublicKey")
	case opts.AppID == 0 && opts.AppPublicKey != nil:
		return errors.New("Options.AppPublicKey needs Options.AppID")
	case opts.AppID == 0 && len(opts.AppInstallationIDs) > 0:
		return errors.New("Options.AppInstallationIDs needs Options.AppID")
	}
	return nil
}

// appRoutes returns the handler for the App endpoints, which authenticate
// with the app's JWT instead of a token, or nil when no App is configured.
func (s *Server) appRoutes() *http.ServeMux {
	if s.opts.AppID == 0 {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v3/app/installations/{id}/access_tokens", s.createInstallationToken)
	return mux
}

// IssuedTokens returns the installation tokens issued so far, oldest first.
func (s *Server) IssuedTokens() []IssuedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]IssuedToken, 0, len(s.tokenOrder))
	for _, tok := range s.tokenOrder {
		it := s.installTokens[tok]
		out = append(out, IssuedToken{
			InstallationID: it.installation,
			Token:          tok,
			ExpiresAt:      it.expires,
			APIRequests:    it.apiUses,
			GitRequests:    it.gitUses,
		})
	}
	return out
}

// createInstallationToken serves POST /app/installations/{id}/access_tokens:
// 401 unless the request carries a valid JWT of the app, 404 for an unknown
// installation, else 201 with a new token valid for an hour.
func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request) {
	scheme, jwt, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(jwt) == "" {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	if err := verifyAppJWT(strings.TrimSpace(jwt), s.opts.AppID, s.opts.AppPublicKey, s.opts.Now()); err != nil {
		// The reason names a claim or the signature, never the token.
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	id, ok := pathInt(w, r, "id")
	if !ok {
		return
	}
	if !slices.Contains(s.opts.AppInstallationIDs, id) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	// GitHub can scope a token to some repositories or permissions; the fake
	// cannot enforce that, so it refuses rather than hand out a wider token.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		var o github.InstallationTokenOptions
		if err := json.Unmarshal(body, &o); err != nil {
			writeError(w, http.StatusBadRequest, "Problems parsing JSON")
			return
		}
		if len(o.RepositoryIDs) > 0 || len(o.Repositories) > 0 || o.Permissions != nil {
			writeValidation(w, fieldError{Resource: "InstallationToken", Field: "repositories", Code: "custom",
				Message: "the fake GitHub does not scope installation tokens; ask for an unrestricted one"})
			return
		}
	}
	tok, err := newInstallToken()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "generate installation token")
		return
	}
	expires := s.opts.Now().Add(installTokenTTL).UTC().Truncate(time.Second)
	s.mu.Lock()
	s.installTokens[tok] = &installToken{installation: id, expires: expires}
	s.tokenOrder = append(s.tokenOrder, tok)
	s.mu.Unlock()
	s.log.Info("fake github issued an installation token", "installation", id, "expires", expires)
	writeJSON(w, http.StatusCreated, github.InstallationToken{
		Token:     github.String(tok),
		ExpiresAt: &github.Timestamp{Time: expires},
	})
}

// useInstallToken reports whether tok is a current installation token and,
// if so, counts the use.
func (s *Server) useInstallToken(tok string, git bool) bool {
	if s.opts.AppID == 0 || !strings.HasPrefix(tok, installTokenPrefix) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.installTokens[tok]
	if !ok || !s.opts.Now().Before(it.expires) {
		return false
	}
	if git {
		it.gitUses++
	} else {
		it.apiUses++
	}
	return true
}

// newInstallToken returns "ghs_" and 36 random letters and digits, the shape
// of GitHub's installation tokens.
func newInstallToken() (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 36)
	size := big.NewInt(int64(len(alphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, size)
		if err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		b[i] = alphabet[n.Int64()]
	}
	return installTokenPrefix + string(b), nil
}

// jwtHeader is the JOSE header of an app's JWT.
type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
}

// jwtClaims are the claims GitHub reads from an app's JWT. Iss may be the app
// ID as a number or a string; iat and exp must be integers.
type jwtClaims struct {
	Iss json.RawMessage `json:"iss"`
	Iat json.Number     `json:"iat"`
	Exp json.Number     `json:"exp"`
}

// verifyAppJWT checks that raw is an RS256 JWT signed by key whose issuer is
// appID, issued no later than now (give or take a minute's clock skew) and
// expiring after now but at most ten minutes from now, as GitHub requires.
// Its errors say which check failed, never echo the token, and are safe to
// send back to the client.
func verifyAppJWT(raw string, appID int64, key *rsa.PublicKey, now time.Time) error {
	errDecode := errors.New("the JSON web token could not be decoded")
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return errDecode
	}
	var hdr jwtHeader
	if err := decodeJWTPart(parts[0], &hdr); err != nil {
		return errDecode
	}
	if hdr.Alg != "RS256" {
		return fmt.Errorf("the JSON web token must be signed with RS256, not %q", hdr.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errDecode
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig); err != nil {
		return errors.New("the JSON web token's signature does not match the app's public key")
	}
	var c jwtClaims
	if err := decodeJWTPart(parts[1], &c); err != nil {
		return errDecode
	}
	if iss, err := claimIssuer(c.Iss); err != nil || iss != appID {
		return errors.New("the JSON web token's issuer claim (iss) must be the app's ID")
	}
	iat, err := strconv.ParseInt(c.Iat.String(), 10, 64)
	if err != nil {
		return errors.New("the JSON web token's issued-at claim (iat) must be an integer time")
	}
	exp, err := strconv.ParseInt(c.Exp.String(), 10, 64)
	if err != nil {
		return errors.New("the JSON web token's expiry claim (exp) must be an integer time")
	}
	issued, expires := time.Unix(iat, 0), time.Unix(exp, 0)
	switch {
	case issued.After(now.Add(jwtClockSkew)):
		return errors.New("the JSON web token's issued-at claim (iat) is in the future")
	case !expires.After(now.Add(-jwtClockSkew)):
		return errors.New("the JSON web token has expired (exp is in the past)")
	case expires.After(now.Add(jwtMaxLifetime + jwtClockSkew)):
		return errors.New("the JSON web token's expiry claim (exp) is more than 10 minutes in the future")
	case !expires.After(issued):
		return errors.New("the JSON web token's expiry claim (exp) must be after its issued-at claim (iat)")
	}
	return nil
}

// decodeJWTPart decodes one base64url part of a JWT as JSON into v.
func decodeJWTPart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return fmt.Errorf("decode jwt part: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("parse jwt part: %w", err)
	}
	return nil
}

// claimIssuer reads iss, a JSON integer or a string of digits.
func claimIssuer(raw json.RawMessage) (int64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(raw)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse iss: %w", err)
	}
	return n, nil
}
