package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/server"
)

// baseArgs make a valid `atoll server` command line, so that a test sees
// only the errors of the flags it adds.
var baseArgs = []string{"--gh-token", "x", "--repo-allowlist", "*"}

func noEnv(string) (string, bool) { return "", false }

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestFlagAtlantisTableMatchesAtlantis: the table has exactly the flags of
// Atlantis' list (testdata), once each.
func TestFlagAtlantisTableMatchesAtlantis(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/atlantis_server_flags.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range atlantisFlags {
		got = append(got, a.Name)
	}
	slices.Sort(want)
	slices.Sort(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("table flags (-Atlantis +table):\n%s", d)
	}
	if c := slices.Compact(slices.Clone(got)); len(c) != len(got) {
		t.Errorf("a flag is in the table twice")
	}
	for _, a := range atlantisFlags {
		if (a.Kind == kindRefused || a.Kind == kindImplemented || a.Kind == kindNoop) && a.Note == "" {
			t.Errorf("--%s (%s) has no note saying what Atoll does", a.Name, a.Kind)
		}
		if a.Kind == kindRefused && a.Bool && len(a.Accept) == 2 {
			t.Errorf("--%s accepts true and false: it is a no-op, not refused", a.Name)
		}
		if strings.ContainsAny(a.Note, "|\n") {
			t.Errorf("--%s: its note must fit a markdown table cell", a.Name)
		}
	}
}

// TestFlagAtlantisRegistered: every flag of the table is a flag of `atoll
// server`, of the kind the table says.
func TestFlagAtlantisRegistered(t *testing.T) {
	t.Parallel()
	fs, _, _ := newServerFlags("t", io.Discard)
	for _, a := range atlantisFlags {
		if a.Name == "help" {
			if err := fs.Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
				t.Errorf("--help = %v, want flag.ErrHelp", err)
			}
			continue
		}
		f := fs.Lookup(a.Name)
		if f == nil {
			t.Errorf("--%s (%s) is not registered", a.Name, a.Kind)
			continue
		}
		_, compat := f.Value.(*compatValue)
		switch a.Kind {
		case kindSame, kindImplemented:
			if compat {
				t.Errorf("--%s is %s but registered as an Atlantis-only flag", a.Name, a.Kind)
			}
		case kindAlias:
			if tf := fs.Lookup(a.Target); tf == nil {
				t.Errorf("--%s is an alias of --%s, which does not exist", a.Name, a.Target)
			} else if _, c := tf.Value.(*compatValue); c {
				t.Errorf("--%s is an alias of --%s, which is not an Atoll flag", a.Name, a.Target)
			}
		default:
			if !compat {
				t.Errorf("--%s is %s but registered as an Atoll flag", a.Name, a.Kind)
			}
		}
	}
}

// refusedValue is a value the refused flag a does not accept.
func refusedValue(a atlantisFlag) string {
	if a.Bool {
		if slices.Contains(a.Accept, "true") {
			return "false"
		}
		return "true"
	}
	return "not-what-atoll-does"
}

// TestFlagAtlantisRefused: a refused flag set to a value Atoll does not do
// stops the start-up with its message, whether it comes as a flag, an
// ATLANTIS_* variable or a --config key; its accepted values start.
func TestFlagAtlantisRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, a := range atlantisFlags {
		if a.Kind != kindRefused {
			continue
		}
		bad := refusedValue(a)
		env := "ATLANTIS_" + strings.ToUpper(strings.ReplaceAll(a.Name, "-", "_"))
		cfg := filepath.Join(dir, a.Name+".yaml")
		if err := os.WriteFile(cfg, []byte(a.Name+": "+quoteYAML(bad)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, src := range []struct {
			name string
			args []string
			env  map[string]string
		}{
			{"flag", append(slices.Clone(baseArgs), "--"+a.Name+"="+bad), nil},
			{"env", baseArgs, map[string]string{env: bad}},
			{"config", append(slices.Clone(baseArgs), "--config", cfg), nil},
		} {
			_, _, err := parseServerFlags("t", src.args, io.Discard, envOf(src.env))
			if err == nil || !strings.Contains(err.Error(), a.Note) || !strings.Contains(err.Error(), "--"+a.Name) {
				t.Errorf("--%s=%s from %s: err = %v, want the message %q", a.Name, bad, src.name, err, a.Note)
			}
			if a.Secret && err != nil && strings.Contains(err.Error(), bad) {
				t.Errorf("--%s from %s: the error shows the secret value", a.Name, src.name)
			}
		}
		for _, ok := range a.Accept {
			_, pf, err := parseServerFlags("t", append(slices.Clone(baseArgs), "--"+a.Name+"="+ok), io.Discard, noEnv)
			if err != nil {
				t.Errorf("--%s=%q: %v, want it accepted (Atoll does that)", a.Name, ok, err)
			} else if !slices.Contains(pf.atlantisAccepted, a.Name+"="+ok) && !a.Secret {
				t.Errorf("--%s=%q: accepted %v, want it logged", a.Name, ok, pf.atlantisAccepted)
			}
		}
	}
	// A boolean given alone means true, as in Atlantis.
	if _, _, err := parseServerFlags("t", append(slices.Clone(baseArgs), "--write-git-creds"), io.Discard, noEnv); err == nil ||
		!strings.Contains(err.Error(), "never writes the token to disk") {
		t.Errorf("--write-git-creds alone: err = %v", err)
	}
	// Every refusal is reported at once.
	_, _, err := parseServerFlags("t", baseArgs, io.Discard, envOf(map[string]string{"ATLANTIS_CHECKOUT_STRATEGY": "merge", "ATLANTIS_HIDE_PREV_PLAN_COMMENTS": "true"}))
	if err == nil || !strings.Contains(err.Error(), "--checkout-strategy=merge") || !strings.Contains(err.Error(), "--hide-prev-plan-comments=true") {
		t.Errorf("two refused flags: err = %v, want both named", err)
	}
}

func quoteYAML(s string) string { return `"` + s + `"` }

// TestFlagAtlantisNoopsAndAliases: no-ops start and are logged; aliases set
// their Atoll flag from any source, and disagreeing with it is an error.
func TestFlagAtlantisNoopsAndAliases(t *testing.T) {
	t.Parallel()
	o, pf, err := parseServerFlags("t", append(slices.Clone(baseArgs), "--silence-allowlist-errors", "--gh-app-slug=atoll-app"), io.Discard,
		envOf(map[string]string{"ATLANTIS_ATLANTIS_URL": "https://atoll.acme.dev", "ATLANTIS_TF_DISTRIBUTION": "opentofu"}))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"gh-app-slug=atoll-app", "silence-allowlist-errors=true"}, pf.atlantisAccepted); d != "" {
		t.Errorf("accepted no-ops (-want +got):\n%s", d)
	}
	if o.AtollURL != "https://atoll.acme.dev" || o.DefaultDist != "opentofu" {
		t.Errorf("aliases: atoll-url %q, default-tf-distribution %q", o.AtollURL, o.DefaultDist)
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("atlantis-url: https://from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if o, _, err := parseServerFlags("t", append(slices.Clone(baseArgs), "--config", cfg), io.Discard, noEnv); err != nil || o.AtollURL != "https://from-file" {
		t.Errorf("atlantis-url from --config: %q, %v", o.AtollURL, err)
	}
	// An Atlantis deployment names its config file with ATLANTIS_CONFIG.
	if o, pf, err := parseServerFlags("t", baseArgs, io.Discard, envOf(map[string]string{"ATLANTIS_CONFIG": cfg})); err != nil ||
		o.AtollURL != "https://from-file" || !slices.Contains(pf.fromAtlantis, "ATLANTIS_CONFIG") {
		t.Errorf("ATLANTIS_CONFIG: atoll-url %q, variables %v, %v", o.AtollURL, pf.fromAtlantis, err)
	}
	_, _, err = parseServerFlags("t", append(slices.Clone(baseArgs), "--atoll-url", "https://a"), io.Discard, envOf(map[string]string{"ATLANTIS_ATLANTIS_URL": "https://b"}))
	if err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Errorf("atoll-url and atlantis-url differ: err = %v", err)
	}
}

// TestFlagAtlantisImplemented: the implemented flags reach the server's
// settings.
func TestFlagAtlantisImplemented(t *testing.T) {
	t.Parallel()
	o, _, err := parseServerFlags("t", append(slices.Clone(baseArgs), "--executable-name", "infra", "--disable-autoplan", "--disable-apply-all",
		"--parallel-pool-size", "9", "--automerge-method", "squash"), io.Discard,
		envOf(map[string]string{"ATLANTIS_ALLOW_COMMANDS": "version,plan,unlock", "ATLANTIS_REPO_CONFIG_JSON": `{"repos":[{"id":"/.*/","apply_requirements":["approved"]}]}`}))
	if err != nil {
		t.Fatal(err)
	}
	var c server.Config
	o.applyAtlantis(&c)
	want := server.Config{Executables: []string{"infra"}, AllowCommands: []string{"plan", "unlock"}, DisableAutoplan: true, DisableApplyAll: true,
		ParallelPoolSize: 9, AutomergeMethod: "squash"}
	if d := cmp.Diff(want, c, cmp.Comparer(func(a, b server.Config) bool {
		return slices.Equal(a.Executables, b.Executables) && slices.Equal(a.AllowCommands, b.AllowCommands) && a.DisableAutoplan == b.DisableAutoplan &&
			a.DisableApplyAll == b.DisableApplyAll && a.ParallelPoolSize == b.ParallelPoolSize && a.AutomergeMethod == b.AutomergeMethod
	})); d != "" {
		t.Errorf("server settings (-want +got):\n%s", d)
	}
	rc, err := o.repoConfig()
	if err != nil {
		t.Fatalf("--repo-config-json: %v", err)
	}
	if len(rc.Repos) != 1 || !slices.Equal(rc.Repos[0].ApplyRequirements, []string{"approved"}) {
		t.Errorf("--repo-config-json: repos %+v", rc.Repos)
	}

	// Defaults change nothing: Atoll answers to atoll and atlantis and runs every command.
	o, _, err = parseServerFlags("t", baseArgs, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c = server.Config{}
	o.applyAtlantis(&c)
	if c.Executables != nil || c.AllowCommands != nil || c.DisableAutoplan || c.DisableApplyAll {
		t.Errorf("defaults set %+v", c)
	}
	if cmds, _ := parseAllowCommands("plan,all"); cmds != nil {
		t.Errorf("--allow-commands=plan,all = %v, want every command", cmds)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ssl-cert-file", "c.pem"}, "--ssl-cert-file and --ssl-key-file are both required"},
		{[]string{"--repo-config", "r.yaml", "--repo-config-json", "{}"}, "cannot both be set"},
		{[]string{"--allow-commands", "plan,destroy"}, `unknown command "destroy"`},
		{[]string{"--executable-name", "two words"}, "must be one word"},
		{[]string{"--automerge-method", "fast-forward"}, "--automerge-method must be"},
		{[]string{"--gh-app-key", "k", "--gh-app-key-file", "f"}, "cannot both be set"},
	} {
		_, _, err := parseServerFlags("t", append(slices.Clone(baseArgs), tc.args...), io.Discard, noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	o = serverOptions{GHAppKey: "-----BEGIN KEY-----"}
	if k, err := o.appKey(); err != nil || string(k) != o.GHAppKey {
		t.Errorf("--gh-app-key: %q, %v", k, err)
	}
	if !slices.Contains(o.secrets(), o.GHAppKey) || !secretFlags["gh-app-key"] {
		t.Errorf("--gh-app-key is not treated as a secret")
	}
}

// TestFlagAtlantisTFDownload: --tf-download, --tf-download-url and
// --default-tf-version are Atoll flags, from any source: downloads are on by
// default from HashiCorp's site, an Atlantis deployment's settings reach the
// server, and values Atoll cannot use stop the start-up.
func TestFlagAtlantisTFDownload(t *testing.T) {
	t.Parallel()
	o, _, err := parseServerFlags("t", baseArgs, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !o.TFDownload || o.TFDownloadURL != "https://releases.hashicorp.com" || o.TofuDownloadURL != "https://github.com/opentofu/opentofu/releases/download" {
		t.Errorf("defaults: download %v from %q and %q", o.TFDownload, o.TFDownloadURL, o.TofuDownloadURL)
	}
	o, pf, err := parseServerFlags("t", append(slices.Clone(baseArgs), "--tf-download=false"), io.Discard,
		envOf(map[string]string{"ATLANTIS_TF_DOWNLOAD_URL": "https://mirror.acme.dev/hashicorp", "ATLANTIS_DEFAULT_TF_VERSION": "v1.6.9"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.TFDownload || o.TFDownloadURL != "https://mirror.acme.dev/hashicorp" || o.DefaultTFVersion != "v1.6.9" || len(pf.atlantisAccepted) != 0 {
		t.Errorf("Atlantis settings: download %v from %q, default version %q, logged as accepted %v", o.TFDownload, o.TFDownloadURL, o.DefaultTFVersion, pf.atlantisAccepted)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tf-download-url", "file:///srv/releases"}, "--tf-download-url \"file:///srv/releases\" is not an http(s) URL"},
		{[]string{"--tofu-download-url", "https://user:pw@mirror"}, "--tofu-download-url"},
		{[]string{"--default-tf-version", ">= 1.5"}, "--default-tf-version \">= 1.5\" is not a version"},
	} {
		if _, _, err := parseServerFlags("t", append(slices.Clone(baseArgs), tc.args...), io.Discard, noEnv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	keyFile := filepath.Join(t.TempDir(), "key.asc")
	if err := os.WriteFile(keyFile, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ko := serverOptions{TFDownloadKeyFile: keyFile, TofuDownloadKeyFile: filepath.Join(t.TempDir(), "missing.asc")}
	if _, _, err := ko.downloadKeys(); err == nil || !strings.Contains(err.Error(), "--tofu-download-key-file") {
		t.Errorf("missing key file: err = %v", err)
	}
	ko.TofuDownloadKeyFile = ""
	if tf, tofu, err := ko.downloadKeys(); err != nil || !strings.HasPrefix(tf, "-----BEGIN PGP") || tofu != "" {
		t.Errorf("downloadKeys = %q, %q, %v", tf, tofu, err)
	}
}

// TestFlagAtlantisServesHTTPS: --ssl-cert-file and --ssl-key-file serve
// HTTPS, and the default URL says https.
func TestFlagAtlantisServesHTTPS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	o := serverOptions{Port: 4141, SSLCertFile: certFile, SSLKeyFile: keyFile}
	if u := o.defaultURL(); u != "https://localhost:4141" {
		t.Errorf("default URL = %q", u)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := serveTLS(ln, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tln) }()
	t.Cleanup(func() { srv.Close() })
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Get("https://" + tln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("GET over HTTPS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" || resp.TLS == nil {
		t.Errorf("HTTPS answer %q, TLS %v", body, resp.TLS != nil)
	}
	if _, err := serveTLS(ln, serverOptions{SSLCertFile: certFile, SSLKeyFile: certFile}); err == nil {
		t.Errorf("a certificate as its own key was accepted")
	}
}

// writeSelfSigned writes a certificate for 127.0.0.1 and its key.
func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "atoll test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// docRowRe is a row of the flags table in docs/migrating-from-atlantis.md:
// | `--name` | kind | what Atoll does |
var docRowRe = regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\| ([a-z-]+) \\|")

// TestFlagAtlantisDocs: the migration guide's table lists every flag of the
// table, once, with its kind.
func TestFlagAtlantisDocs(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docs/migrating-from-atlantis.md")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if m := docRowRe.FindStringSubmatch(l); m != nil {
			if _, dup := got[m[1]]; dup {
				t.Errorf("--%s is in the docs table twice", m[1])
			}
			got[m[1]] = m[2]
		}
	}
	want := map[string]string{}
	for _, a := range atlantisFlags {
		want[a.Name] = a.Kind.String()
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("docs/migrating-from-atlantis.md flags table (-want +got):\n%s", d)
	}
}
