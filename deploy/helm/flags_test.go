package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// The flag set comes from the real binary's `atoll server --help`, so a
// flag added in any way shows up here; the secret flags come from the
// secretFlags table of cmd/atoll/options.go, which the server itself uses
// to warn about secrets on the command line.

var (
	buildOnce sync.Once
	binDir    string
	atollBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// atollBinary builds cmd/atoll once per test run.
func atollBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "atoll-helm-bin-"); buildErr != nil {
			return
		}
		atollBin = filepath.Join(binDir, "atoll")
		cmd := exec.Command("go", "build", "-o", atollBin, "./cmd/atoll")
		cmd.Dir = testenv.ModuleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/atoll: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return atollBin
}

// serverFlag is one flag of `atoll server --help`.
type serverFlag struct {
	name string
	// kind is the word --help prints after the name: string, int,
	// duration, value; empty for a bool (or a backquoted word of the usage).
	kind  string
	usage string
}

// atlantisOnly reports whether the flag exists only for Atlantis
// deployments: an alias of an Atoll flag, or one Atoll accepts or refuses
// (cmd/atoll/atlantis_flags.go gives them these usages). The chart has
// values for Atoll's own names only.
func (f serverFlag) atlantisOnly() bool {
	return strings.HasPrefix(f.usage, "Atlantis' name of --") || strings.HasPrefix(f.usage, "Atlantis flag")
}

var (
	flagsOnce  sync.Once
	flagsCache []serverFlag
	flagsErr   error
)

var helpFlagLine = regexp.MustCompile(`^  -(\S+)(?: (.*))?$`)

// serverFlags returns the flags `atoll server --help` lists.
func serverFlags(t *testing.T) []serverFlag {
	t.Helper()
	bin := atollBinary(t)
	flagsOnce.Do(func() {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "server", "--help")
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			flagsErr = fmt.Errorf("atoll server --help: %v\n%s", err, stderr.String())
			return
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			if m := helpFlagLine.FindStringSubmatch(line); m != nil {
				flagsCache = append(flagsCache, serverFlag{name: m[1], kind: m[2]})
			} else if strings.HasPrefix(line, "    ") && len(flagsCache) > 0 {
				f := &flagsCache[len(flagsCache)-1]
				f.usage = strings.TrimSpace(f.usage + " " + strings.TrimSpace(line))
			}
		}
		if len(flagsCache) == 0 {
			flagsErr = fmt.Errorf("atoll server --help lists no flags:\n%s", stderr.String())
		}
	})
	if flagsErr != nil {
		t.Fatal(flagsErr)
	}
	return flagsCache
}

var (
	secretOnce  sync.Once
	secretCache map[string]bool
	secretErr   error
)

// secretFlags returns the keys of the secretFlags table of cmd/atoll.
func secretFlags(t *testing.T) map[string]bool {
	t.Helper()
	dir := filepath.Join(testenv.ModuleRoot(t), "cmd", "atoll")
	secretOnce.Do(func() {
		secretCache, secretErr = parseSecretFlags(dir)
	})
	if secretErr != nil {
		t.Fatal(secretErr)
	}
	return secretCache
}

func parseSecretFlags(dir string) (map[string]bool, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if n.Name != "secretFlags" || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.CompositeLit)
					if !ok {
						return nil, fmt.Errorf("%s: secretFlags is not a map literal", e.Name())
					}
					out := map[string]bool{}
					for _, el := range lit.Elts {
						kv, ok := el.(*ast.KeyValueExpr)
						if !ok {
							return nil, fmt.Errorf("%s: secretFlags has an element that is not key: value", e.Name())
						}
						k, ok := kv.Key.(*ast.BasicLit)
						if !ok || k.Kind != token.STRING {
							return nil, fmt.Errorf("%s: a key of secretFlags is not a string literal", e.Name())
						}
						name, _ := strconv.Unquote(k.Value)
						out[name] = true
					}
					return out, nil
				}
			}
		}
	}
	return nil, errors.New("no secretFlags table in cmd/atoll: the test reads the secret flags from it")
}

// camel is a flag's name in the values: gh-api-url → ghApiUrl.
func camel(flag string) string {
	parts := strings.Split(flag, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// kebab is a value's flag name: ghApiUrl → gh-api-url.
func kebab(key string) string {
	var b strings.Builder
	for _, r := range key {
		if unicode.IsUpper(r) {
			b.WriteByte('-')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// envName is the variable the server reads a flag from (applyEnvAndFile in
// cmd/atoll/flags.go): ATOLL_ and the name in upper case, '-' → '_'.
func envName(flag string) string {
	return "ATOLL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// isSecretFlagEnv reports whether name is the variable of a secret flag.
func isSecretFlagEnv(t *testing.T, name string) bool {
	for f := range secretFlags(t) {
		if envName(f) == name {
			return true
		}
	}
	return false
}

// TestValuesCoverEveryFlag compares the chart's values and schema with the
// flags of `atoll server`: every flag Atoll names has a value (a new flag
// without one fails here), each secret flag is under secrets (where the
// chart keeps it in a Secret) and nowhere else, and the schema gives each
// the type of its flag.
func TestValuesCoverEveryFlag(t *testing.T) {
	t.Parallel()
	secret := secretFlags(t)
	var wantServer, wantSecrets []string
	kinds := map[string]string{}
	for _, f := range serverFlags(t) {
		if f.atlantisOnly() {
			continue
		}
		if secret[f.name] {
			wantSecrets = append(wantSecrets, camel(f.name))
		} else {
			wantServer = append(wantServer, camel(f.name))
			kinds[camel(f.name)] = f.kind
		}
	}
	slices.Sort(wantServer)
	slices.Sort(wantSecrets)

	values := readValues(t, filepath.Join(chartDir, "values.yaml"))
	if diff := cmp.Diff(wantServer, keys(section(values, "server"))); diff != "" {
		t.Errorf("values.yaml's server section against the non-secret flags of atoll server (-flags +values):\n%s", diff)
	}
	if diff := cmp.Diff(wantSecrets, keys(section(values, "secrets"))); diff != "" {
		t.Errorf("values.yaml's secrets section against the secret flags of atoll server (-flags +values):\n%s", diff)
	}
	for k, v := range section(values, "secrets") {
		if v != "" {
			t.Errorf("values.yaml ships secrets.%s=%v; secrets must default to empty", k, v)
		}
	}

	schema := readSchema(t)
	if diff := cmp.Diff(wantServer, keys(schema.Properties["server"].Properties)); diff != "" {
		t.Errorf("values.schema.json's server properties against the flags (-flags +schema):\n%s", diff)
	}
	if diff := cmp.Diff(wantSecrets, keys(schema.Properties["secrets"].Properties)); diff != "" {
		t.Errorf("values.schema.json's secrets properties against the secret flags (-flags +schema):\n%s", diff)
	}
	if !schema.Properties["server"].closed() || !schema.Properties["secrets"].closed() {
		t.Error("the schema's server and secrets must refuse other properties (additionalProperties: false), so a misspelt or secret key fails")
	}
	for key, kind := range kinds {
		p := schema.Properties["server"].Properties[key]
		if p == nil {
			continue // reported above
		}
		want := map[string]string{"string": "string", "int": "integer", "duration": "string", "": "boolean"}[kind]
		if want == "" {
			continue // a backquoted word of the usage: --help does not say the type
		}
		if got := p.types(); !slices.Contains(got, want) || len(slices.DeleteFunc(got, func(s string) bool { return s == want || s == "null" })) > 0 {
			t.Errorf("schema server.%s takes %v; the flag's type is %q, so want %s (or null)", key, p.types(), kind, want)
		}
		if kind == "duration" && p.Pattern == "" {
			t.Errorf("schema server.%s has no pattern; it is a duration", key)
		}
	}
}

// TestEveryFlagReachesTheServer sets every value of server and secrets and
// checks each reaches the container as its flag's ATOLL_* variable, the
// secret ones from the chart's Secret, nothing else does, and the server's
// flag parser accepts them all.
func TestEveryFlagReachesTheServer(t *testing.T) {
	t.Parallel()
	schema := readSchema(t)
	server, secrets := map[string]any{}, map[string]any{}
	want := map[string]string{}
	i := 0
	for _, key := range keys(schema.Properties["server"].Properties) {
		i++
		v, err := schema.Properties["server"].Properties[key].sample(key, i)
		if err != nil {
			t.Fatal(err)
		}
		server[key] = v
		want[kebab(key)] = fmt.Sprint(v)
	}
	// --config is read while the flags are: it must be a YAML file.
	cfg := filepath.Join(t.TempDir(), "atoll.yaml")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	server["config"], want["config"] = cfg, cfg
	for _, key := range keys(schema.Properties["secrets"].Properties) {
		secrets[key] = "s3cret-" + key
		want[kebab(key)] = "s3cret-" + key
	}
	b, err := json.Marshal(map[string]any{"server": server, "secrets": secrets})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "values.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m := lintAndRender(t, "-f", file)
	checkWiring(t, m, readValues(t, file))
	_, c := m.statefulSet(t)

	secret := secretFlags(t)
	wantEnv := map[string]bool{}
	for _, f := range serverFlags(t) {
		if f.atlantisOnly() {
			continue
		}
		name := envName(f.name)
		wantEnv[name] = true
		if secret[f.name] {
			wantSecretEnv(t, c, name, fullname, f.name)
			if got := string(m.secret(fullname).Data[f.name]); got != want[f.name] {
				t.Errorf("the Secret's %s is %q, want %q", f.name, got, want[f.name])
			}
			continue
		}
		if got, ok := literalEnv(c, name); !ok || got != want[f.name] {
			t.Errorf("%s=%q (set %v), want %q: the value of --%s", name, got, ok, want[f.name], f.name)
		}
	}
	gotEnv := map[string]bool{}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "ATOLL_") {
			gotEnv[e.Name] = true
		}
	}
	if diff := cmp.Diff(keys(wantEnv), keys(gotEnv)); diff != "" {
		t.Errorf("ATOLL_* variables of the pod against the flags' (-flags +pod):\n%s", diff)
	}

	// The server reads every variable without a parse error (it then fails
	// on the --log-level the test passes, and on the sample values).
	out := serverParse(t, resolveEnv(t, m, nil))
	if line := strings.TrimPrefix(strings.TrimSpace(serverParse(t, minimalEnv)), "atoll server: "); !strings.Contains(out, line) || strings.Contains(out, "ATOLL_") {
		t.Errorf("atoll server did not read the pod's environment: it said\n%s\nwant the validation error %q and no ATOLL_* variable named", out, line)
	}
}

// minimalEnv is the least environment the server's flag parser accepts.
var minimalEnv = []string{"ATOLL_REPO_ALLOWLIST=github.com/acme/*", "ATOLL_GH_TOKEN=ghp_minimal"}

// checkServerAccepts runs the server's flag parser on the pod's
// environment (Secret references resolved from the rendered Secret, or from
// existing for an existingSecret) and wants it to fail only on the
// --log-level the test adds, exactly as it does for a minimal valid
// environment: every variable parses and the options validate.
func checkServerAccepts(t *testing.T, m *manifests, existing map[string]string) {
	t.Helper()
	got := serverParse(t, resolveEnv(t, m, existing))
	if want := serverParse(t, minimalEnv); got != want {
		t.Errorf("atoll server, given the pod's environment, said\n%s\nwant only what it says to a valid one:\n%s", got, want)
	}
}

// resolveEnv is the container's environment as the kubelet would set it.
func resolveEnv(t *testing.T, m *manifests, existing map[string]string) []string {
	t.Helper()
	_, c := m.statefulSet(t)
	var out []string
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			out = append(out, e.Name+"="+e.Value)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref == nil {
			t.Fatalf("%s: only secretKeyRef is resolved here, got %+v", e.Name, e.ValueFrom)
		}
		if s := m.secret(ref.Name); s != nil {
			if v, ok := s.Data[ref.Key]; ok {
				out = append(out, e.Name+"="+string(v))
				continue
			}
		} else if v, ok := existing[ref.Key]; ok {
			out = append(out, e.Name+"="+v)
			continue
		}
		if ref.Optional == nil || !*ref.Optional {
			t.Errorf("%s: the key %s of %s is missing and not optional: the pod would not start", e.Name, ref.Key, ref.Name)
		}
	}
	return out
}

// serverParse runs `atoll server --log-level=not-a-level` with only env,
// which stops while reading the flags, and returns what it says.
func serverParse(t *testing.T, env []string) string {
	t.Helper()
	cmd := exec.Command(atollBinary(t), "server", "--log-level=not-a-level")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("atoll server with an invalid --log-level: %v (want exit status 1)\n%s", err, out.String())
	}
	return out.String()
}

// jsonSchema is the part of values.schema.json the tests read.
type jsonSchema struct {
	Type                 any                    `json:"type"`
	Enum                 []any                  `json:"enum"`
	Pattern              string                 `json:"pattern"`
	Minimum              *float64               `json:"minimum"`
	Properties           map[string]*jsonSchema `json:"properties"`
	AdditionalProperties *bool                  `json:"additionalProperties"`
}

func readSchema(t *testing.T) *jsonSchema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s jsonSchema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	for _, k := range []string{"server", "secrets"} {
		if s.Properties[k] == nil {
			t.Fatalf("values.schema.json has no %s properties", k)
		}
	}
	return &s
}

// closed reports whether the schema refuses properties it does not list.
func (s *jsonSchema) closed() bool {
	return s.AdditionalProperties != nil && !*s.AdditionalProperties
}

// types are the JSON types the schema allows (its enum's, without a type).
func (s *jsonSchema) types() []string {
	switch v := s.Type.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	var out []string
	for _, e := range s.Enum {
		switch e.(type) {
		case nil:
			out = append(out, "null")
		case string:
			out = append(out, "string")
		default:
			out = append(out, fmt.Sprintf("%T", e))
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// sample returns a value of key the schema allows, different for each i.
func (s *jsonSchema) sample(key string, i int) (any, error) {
	if len(s.Enum) > 0 {
		return s.Enum[len(s.Enum)-1], nil
	}
	types := s.types()
	switch {
	case slices.Contains(types, "boolean"):
		return true, nil
	case slices.Contains(types, "integer"):
		n := 1000 + i
		if s.Minimum != nil && float64(n) < *s.Minimum {
			return nil, fmt.Errorf("schema server.%s: minimum %v, above the sample %d", key, *s.Minimum, n)
		}
		return n, nil
	case slices.Contains(types, "string"):
		for _, v := range []string{"v-" + key, "/v/" + key, strconv.Itoa(i) + "s"} {
			if s.Pattern == "" {
				return v, nil
			}
			if ok, err := regexp.MatchString(s.Pattern, v); err != nil {
				return nil, fmt.Errorf("schema server.%s: pattern %q: %w", key, s.Pattern, err)
			} else if ok {
				return v, nil
			}
		}
		return nil, fmt.Errorf("schema server.%s: no sample matches the pattern %q; add one to sample", key, s.Pattern)
	}
	return nil, fmt.Errorf("schema server.%s: no sample for types %v", key, types)
}
