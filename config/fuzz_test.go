package config

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

var fuzzSeeds = []string{
	"",
	"version: 3\n",
	"version: 3\nprojects:\n- dir: a\n  workspace: [x]\n",
	"version: 3\nprojects:\n- &a {dir: a}\n- <<: *a\n  name: b\n",
	"version: 3\nprojects:\n- <<: [*x]\n",
	"a: &a [*a]\n",
	"version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - run: {command: x, output: [hide, {filter_regex: a}]}\n",
	"version: 3\nprojects:\n- {dir: a, depends_on: [b]}\n- {name: b, dir: a}\n",
	"{version: 3, autodiscover: {mode: enabled, ignore_paths: ['[']}}",
	"\t\x00",
	"--- !!map\n? [a]\n: b\n",
	// Project dirs that must be refused or cleaned.
	"version: 3\nprojects:\n- dir: ../other\n- dir: /etc\n- dir: 'a\\b'\n- dir: \"a\\0b\"\n- dir: ./a/./b/\n",
	"repos:\n- id: /.*/\n  repo_config_file: ../../etc/passwd\n- id: x\n  repo_config_file: \"a\\0\"\n",
	// Invalid UTF-8 and a byte order mark.
	"version: 3\nprojects:\n- dir: \xff\xfe\n  name: \xc3\x28\n",
	"\xef\xbb\xbfversion: 3\n",
	"version: \"\xed\xa0\x80\"\n",
	// Huge and odd numbers.
	"version: 99999999999999999999999999999999999999\n",
	"version: -9223372036854775809\n",
	"version: 0x7fffffffffffffffff\n",
	"version: 3.0e400\nprojects:\n- dir: a\n  execution_order_group: 1e400\n",
	"version: 3\nprojects:\n- dir: a\n  execution_order_group: 9223372036854775808\n",
	"version: .inf\n",
	// Keys with control characters.
	"version: 3\n\"a\\nb\": 1\n",
}

// fuzzSeedsGenerated are seeds too long to write out: alias bombs and deep
// nesting. They are kept as short as what they test allows, because the fuzzer
// spends long stretches minimizing large inputs.
func fuzzSeedsGenerated() []string {
	return []string{
		billionLaughs("projects"),
		billionLaughs("repos"),
		"x: &x {dir: a}\nversion: 3\nprojects: [" + strings.Repeat("*x, ", 300) + "]\n",
		strings.Repeat("[", 10001), // past yaml.v3's depth limit of 10000
		"version: 3\nprojects:\n" + strings.Repeat("- ", 1000) + "a\n",
		"version: 3\nworkflows:\n" + strings.Repeat("  x: {\n", 1000),
	}
}

// addSeeds adds the shared seeds and the files of testdata to f.
func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range fuzzSeedsGenerated() {
		f.Add([]byte(s))
	}
	for _, name := range []string{"atlantis.yaml", "repos.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkFuzzError checks that a refusal is made of positioned *Error values for
// file, each reading "file:line:col: ...", "file:line: ..." or "file: ...".
func checkFuzzError(t *testing.T, file string, data []byte, err error) {
	t.Helper()
	errs := Errors(err)
	if len(errs) == 0 {
		t.Fatalf("error %v carries no *Error", err)
	}
	if !strings.HasPrefix(err.Error(), file+":") {
		t.Fatalf("error %q does not start with %q", err, file+":")
	}
	// yaml.v3 also breaks lines at \r and at NEL, LS and PS; count them all.
	lines := 1
	for _, sep := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		lines += strings.Count(string(data), sep)
	}
	for _, e := range errs {
		if e.File != file || e.Msg == "" || e.Line < 0 || e.Col < 0 || (e.Col > 0 && e.Line == 0) || e.Line > lines+1 {
			t.Fatalf("badly formed error %#v (input has %d lines)", e, lines)
		}
		prefix := file + ": "
		switch {
		case e.Col > 0:
			prefix = fmt.Sprintf("%s:%d:%d: ", file, e.Line, e.Col)
		case e.Line > 0:
			prefix = fmt.Sprintf("%s:%d: ", file, e.Line)
		}
		if !strings.HasPrefix(e.Error(), prefix) {
			t.Fatalf("error %q does not start with %q", e, prefix)
		}
	}
}

// checkCleanDir checks what every accepted dir or repo_config_file must be.
func checkCleanDir(t *testing.T, what, dir string) {
	t.Helper()
	if dir == "" || path.IsAbs(dir) || path.Clean(dir) != dir || strings.ContainsAny(dir, "\\\x00") || !validRepoPath(dir) {
		t.Fatalf("%s %q accepted: not a clean relative path", what, dir)
	}
	for _, part := range strings.Split(dir, "/") {
		if part == ".." {
			t.Fatalf("%s %q accepted with a .. element", what, dir)
		}
	}
}

// FuzzParseRepoConfig checks that no input makes the parser (or Resolve) panic,
// that a refusal always carries positioned errors, and that what is accepted is
// valid: version 3, clean project dirs, names and workspaces without spaces, and
// the same result when parsed again.
func FuzzParseRepoConfig(f *testing.F) {
	addSeeds(f)
	permissive := mustServerF(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, err := ParseRepoConfig("atoll.yaml", data)
		if err != nil {
			if rc != nil {
				t.Fatalf("config returned with error %v", err)
			}
			checkFuzzError(t, "atoll.yaml", data, err)
			return
		}
		if rc.Version != 3 {
			t.Fatalf("accepted version %d", rc.Version)
		}
		for i, p := range rc.Projects {
			checkCleanDir(t, fmt.Sprintf("projects[%d].dir", i), p.Dir)
			if strings.ContainsAny(p.Name, " \t\n") || p.Workspace == "" || strings.ContainsAny(p.Workspace, " \t\n") {
				t.Fatalf("projects[%d] accepted with name %q, workspace %q", i, p.Name, p.Workspace)
			}
		}
		again, err := ParseRepoConfig("atoll.yaml", data)
		if err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		if diff := cmp.Diff(rc, again, ignoreUnexported); diff != "" {
			t.Fatalf("second parse differs (-first +second):\n%s", diff)
		}
		r, err := permissive.Resolve("github.com/a/b", "main", rc)
		if err == nil && r == nil {
			t.Fatal("Resolve returned nil without error")
		}
		if err != nil {
			checkFuzzError(t, "atoll.yaml", data, err)
		}
		if _, err := DefaultServerConfig().Resolve("github.com/a/b", "", rc); err != nil && len(Errors(err)) == 0 {
			t.Fatalf("Resolve error %v carries no *Error", err)
		}
	})
}

// FuzzParseServerConfig checks that no repos.yaml input makes the parser panic,
// that a refusal always carries positioned errors, and that an accepted config
// resolves, has clean repo_config_file names and parses the same again.
func FuzzParseServerConfig(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseServerConfig("repos.yaml", data)
		if err != nil {
			if sc != nil {
				t.Fatalf("config returned with error %v", err)
			}
			checkFuzzError(t, "repos.yaml", data, err)
			return
		}
		for i, r := range sc.Repos {
			if r.RepoConfigFile != "" {
				checkCleanDir(t, fmt.Sprintf("repos[%d].repo_config_file", i), r.RepoConfigFile)
			}
		}
		again, err := ParseServerConfig("repos.yaml", data)
		if err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		if diff := cmp.Diff(sc, again, ignoreUnexported); diff != "" {
			t.Fatalf("second parse differs (-first +second):\n%s", diff)
		}
		if _, err := sc.Resolve("github.com/a/b", "main", nil); err != nil {
			t.Fatalf("Resolve without a repo config failed: %v", err)
		}
	})
}

// FuzzProjectDir checks cleanDir, which validates every project dir, `-d` of a
// comment and repo_config_file: an accepted dir is relative, clean, has no ..
// element, backslash or NUL, is accepted unchanged when cleaned again, and the
// same holds for a dir written in a repo config.
func FuzzProjectDir(f *testing.F) {
	for _, s := range []string{
		"", ".", "./", "a", "a/", "a/b", "a//b", "./a/./b", "..", "../a", "a/..", "a/../b", "...", "..a", "a..",
		"/", "/a", "//a", "a\\b", `\\server\share`, `C:\x`, "C:/x", "a\x00b", "\x00", "~", "a/b/../../..",
		"\xff", " ", "a\nb", "a/./..", "./../a", ".//..", "a/b/c/d/../..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		clean, msg := cleanDir(s)
		if msg != "" {
			if clean != "" {
				t.Fatalf("cleanDir(%q) = %q with message %q", s, clean, msg)
			}
		} else {
			checkCleanDir(t, "cleanDir", clean)
			if again, msg := cleanDir(clean); again != clean || msg != "" {
				t.Fatalf("cleanDir(%q) = %q, %q; cleaning it again gives %q, %q", s, clean, "", again, msg)
			}
		}

		// The same dir written in a repo config. YAML may not give back exactly s
		// (trailing newlines of block scalars), so compare with cleanDir of what
		// the document says.
		doc, err := yaml.Marshal(map[string]any{"version": 3, "projects": []map[string]string{{"dir": s}}})
		if err != nil {
			return
		}
		var written struct{ Projects []struct{ Dir string } }
		if yaml.Unmarshal(doc, &written) != nil || len(written.Projects) != 1 {
			return
		}
		rc, err := ParseRepoConfig("atoll.yaml", doc)
		if err != nil {
			return
		}
		checkCleanDir(t, "dir", rc.Projects[0].Dir)
		if want, msg := cleanDir(written.Projects[0].Dir); msg != "" || rc.Projects[0].Dir != want {
			t.Fatalf("dir %q: the repo config has %q, cleanDir %q (%s)", written.Projects[0].Dir, rc.Projects[0].Dir, want, msg)
		}
	})
}

func mustServerF(f *testing.F) *ServerConfig {
	sc, err := ParseServerConfig("repos.yaml", []byte(`repos:
- id: /.*/
  allowed_overrides: [plan_requirements, apply_requirements, import_requirements, workflow, delete_source_branch_on_merge, repo_locking, repo_locks, policy_check, custom_policy_check, silence_pr_comments]
  allow_custom_workflows: true
`))
	if err != nil {
		f.Fatal(err)
	}
	return sc
}
