package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// writeTree writes files (slash paths relative to root) under a new temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// moduleRepo is a repository with root projects, local modules used directly and
// transitively, a module outside modules/, an unused module and a dir to ignore.
var moduleRepo = map[string]string{
	"envs/prod/main.tf": `terraform {
  required_version = "= 1.5.7"
}
module "net" {
  source = "../../modules/network"
}
`,
	"envs/staging/main.tf": `terraform {
  required_version = ">= 1.5"
}
module "app" {
  source = "../../modules/app"
}
`,
	"envs/staging/env/staging.tfvars": "",
	"envs/dev/main.tf": `module "shared" {
  source = "../../lib/shared"
}
module "remote" {
  source  = "hashicorp/consul/aws"
  version = "0.1.0"
}
`,
	"modules/network/main.tf":    "resource \"terraform_data\" \"net\" {\n  input = \"v1\"\n}\n",
	"modules/app/main.tf":        "module \"net\" {\n  source = \"../network\"\n}\n",
	"modules/app/templates/x.sh": "echo\n",
	"modules/unused/main.tf":     "resource \"terraform_data\" \"u\" {}\n",
	"lib/shared/main.tf":         "resource \"terraform_data\" \"s\" {}\n",
	"sandbox/main.tf":            "resource \"terraform_data\" \"x\" {}\n",
	"broken/main.tf":             "resource \"terraform_data\" {\n",
	"README.md":                  "# infra\n",
}

func dirsOf(ps []Project) []string {
	out := []string{}
	for _, p := range ps {
		id := p.Dir
		if p.Workspace != "default" {
			id += ":" + p.Workspace
		}
		if p.Name != "" {
			id += "(" + p.Name + ")"
		}
		out = append(out, id)
	}
	return out
}

func resolveFor(t *testing.T, server, repo string) *Resolved {
	t.Helper()
	sc := DefaultServerConfig()
	if server != "" {
		sc = mustServer(t, server)
	}
	var rc *RepoConfig
	if repo != "" {
		rc = mustRepo(t, repo)
	}
	r, err := sc.Resolve("github.com/acme/infra", "main", rc)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return r
}

func TestProjectsAutoplan(t *testing.T) {
	t.Parallel()
	root := writeTree(t, moduleRepo)
	configured := `version: 3
projects:
- name: prod
  dir: envs/prod
  execution_order_group: 2
- name: staging
  dir: envs/staging
  execution_order_group: 1
  autoplan:
    when_modified: ["*.tf", "env/*.tfvars", "!skip.tf"]
- name: off
  dir: lib/shared
  autoplan: {enabled: false}
- name: gone
  dir: deleted
`
	tests := []struct {
		name    string
		server  string
		repo    string
		changed []string
		want    []string
	}{
		{"discovered root project", "", "", []string{"envs/prod/main.tf", "README.md"}, []string{"envs/prod"}},
		{"tfvars in a subdir walks up to the project", "", "", []string{"envs/staging/env/staging.tfvars"}, []string{"envs/staging"}},
		{"module change plans its users transitively", "", "", []string{"modules/network/main.tf"}, []string{"envs/prod", "envs/staging"}},
		{"module change plans only its users", "", "", []string{"modules/app/main.tf"}, []string{"envs/staging"}},
		{"non-terraform file in a module counts", "", "", []string{"modules/app/templates/x.sh"}, []string{"envs/staging"}},
		{"module outside modules/", "", "", []string{"lib/shared/main.tf"}, []string{"envs/dev"}},
		{"unused module plans nothing", "", "", []string{"modules/unused/main.tf"}, []string{}},
		{"deleted directory plans nothing", "", "", []string{"deleted/main.tf"}, []string{}},
		{"non-terraform change plans nothing", "", "", []string{"README.md", "envs/prod/notes.txt"}, []string{}},
		{"unparsable files still plan", "", "", []string{"broken/main.tf"}, []string{"broken"}},
		{"ignore_paths", "", "version: 3\nautodiscover: {mode: auto, ignore_paths: [sandbox, envs/dev/**]}\n", []string{"sandbox/main.tf", "envs/dev/main.tf", "lib/shared/main.tf"}, []string{}},
		{"autoplan_modules off", "repos:\n- id: /.*/\n  autoplan_modules: false\n", "", []string{"modules/network/main.tf"}, []string{}},
		{"autodiscover disabled", "", "version: 3\nautodiscover: {mode: disabled}\n", []string{"envs/prod/main.tf"}, []string{}},
		{"configured: when_modified and modules, sorted by group", "", configured,
			[]string{"envs/prod/main.tf", "modules/app/main.tf", "lib/shared/main.tf", "deleted/main.tf"}, []string{"envs/staging(staging)", "envs/prod(prod)"}},
		{"configured: module change reaches configured project", "", configured, []string{"modules/network/main.tf"}, []string{"envs/staging(staging)", "envs/prod(prod)"}},
		{"configured: negated pattern", "", configured, []string{"envs/staging/skip.tf"}, []string{}},
		{"configured: pattern on a subdir", "", configured, []string{"envs/staging/env/staging.tfvars"}, []string{"envs/staging(staging)"}},
		{"configured: auto mode does not discover", "", configured, []string{"envs/dev/main.tf"}, []string{}},
		{"enabled mode adds uncovered dirs", "", "version: 3\nautodiscover: {mode: enabled}\nprojects:\n- {dir: envs/prod, workspace: blue}\n",
			[]string{"envs/prod/main.tf", "envs/dev/main.tf"}, []string{"envs/dev", "envs/prod:blue"}},
		{"relative when_modified outside the dir", "", "version: 3\nprojects:\n- dir: envs/dev\n  autoplan: {when_modified: [\"../../modules/**/*.tf\"]}\n",
			[]string{"modules/unused/main.tf"}, []string{"envs/dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := resolveFor(t, tt.server, tt.repo)
			got, err := r.Projects(root, tt.changed)
			if err != nil {
				t.Fatalf("Projects: %v", err)
			}
			if diff := cmp.Diff(tt.want, dirsOf(got)); diff != "" {
				t.Errorf("Projects(%v) mismatch (-want +got):\n%s", tt.changed, diff)
			}
		})
	}
}

func TestProjectsFillsTerraformVersion(t *testing.T) {
	t.Parallel()
	root := writeTree(t, moduleRepo)
	r := resolveFor(t, "", "")
	got, err := r.Projects(root, []string{"modules/network/main.tf"})
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, p := range got {
		versions[p.Dir] = p.TerraformVersion
		if p.Configured || !p.AutoplanEnabled || p.Workflow.Name != "default" {
			t.Errorf("discovered project %s: want server defaults, got %+v", p.Dir, p)
		}
	}
	// prod pins "= 1.5.7"; staging has a range, which the runner resolves.
	if diff := cmp.Diff(map[string]string{"envs/prod": "1.5.7", "envs/staging": ">= 1.5"}, versions); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
}

func TestAllProjects(t *testing.T) {
	t.Parallel()
	root := writeTree(t, moduleRepo)
	got, err := resolveFor(t, "", "version: 3\nautodiscover: {ignore_paths: [sandbox]}\n").AllProjects(root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"broken", "envs/dev", "envs/prod", "envs/staging"}, dirsOf(got)); diff != "" {
		t.Errorf("AllProjects mismatch (-want +got):\n%s", diff)
	}
	got, err = resolveFor(t, "", "version: 3\nprojects:\n- {name: p, dir: envs/prod}\n- {dir: deleted}\n").AllProjects(root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"envs/prod(p)"}, dirsOf(got)); diff != "" {
		t.Errorf("AllProjects with config mismatch (-want +got):\n%s", diff)
	}
}

func TestSelect(t *testing.T) {
	t.Parallel()
	root := writeTree(t, moduleRepo)
	r := resolveFor(t, "", `version: 3
projects:
- {name: prod-blue, dir: envs/prod, workspace: blue}
- {name: prod-green, dir: envs/prod, workspace: green}
- {name: staging, dir: envs/staging}
`)
	tests := []struct {
		name                 string
		candidates           []Project
		dir, workspace, proj string
		want                 []string
		wantErr              string
	}{
		{name: "by name", proj: "staging", want: []string{"envs/staging(staging)"}},
		{name: "unknown name", proj: "prod", wantErr: `no project is named "prod"; projects: prod-blue, prod-green, staging`},
		{name: "by dir and workspace", dir: "envs/prod/", workspace: "green", want: []string{"envs/prod:green(prod-green)"}},
		{name: "dir configured for other workspaces", dir: "envs/prod", wantErr: "directory `envs/prod` is configured only for workspace `blue, green`, not `default`"},
		{name: "ad hoc dir", dir: "./envs/dev", want: []string{"envs/dev"}},
		{name: "ad hoc dir and workspace", dir: "envs/dev", workspace: "qa", want: []string{"envs/dev:qa"}},
		{name: "missing dir", dir: "envs/nope", wantErr: "directory `envs/nope` does not exist in the repository"},
		{name: "dir outside the repo", dir: "../etc", wantErr: `-d "../etc" must stay inside the repo: it may not contain ..`},
		{name: "name and dir", proj: "staging", dir: "envs/staging", wantErr: "use -p on its own, or -d and -w, not both"},
		{name: "everything", want: []string{"envs/prod:blue(prod-blue)", "envs/prod:green(prod-green)", "envs/staging(staging)"}},
		{name: "candidates by dir", candidates: []Project{{Dir: "a", Workspace: "default"}, {Dir: "b", Workspace: "default"}}, dir: "b", want: []string{"b"}},
		{name: "candidates miss", candidates: []Project{{Dir: "a", Workspace: "default"}}, dir: "envs/dev", wantErr: "no project in directory `envs/dev` (workspace `default`) here"},
		{name: "all in a workspace", workspace: "green", want: []string{"envs/prod:green(prod-green)"}},
		{name: "candidates by workspace", candidates: []Project{{Dir: "a", Workspace: "x"}, {Dir: "b", Workspace: "y"}}, workspace: "y", want: []string{"b:y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := r.Select(root, tt.candidates, tt.dir, tt.workspace, tt.proj)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Select error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if diff := cmp.Diff(tt.want, dirsOf(got)); diff != "" {
				t.Errorf("Select mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWhenModifiedMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir      string
		patterns []string
		changed  string
		want     bool
	}{
		{".", DefaultWhenModified, "main.tf", true},
		{".", DefaultWhenModified, "a/b/vars.tfvars", true},
		{".", DefaultWhenModified, "a/terragrunt.hcl", true},
		{".", DefaultWhenModified, "a/.terraform.lock.hcl", true},
		{".", DefaultWhenModified, "README.md", false},
		{"proj", []string{"*.tf"}, "proj/main.tf", true},
		{"proj", []string{"*.tf"}, "proj/sub/main.tf", false},
		{"proj", []string{"*.tf"}, "other/main.tf", false},
		{"proj", []string{"../modules/**/*.tf"}, "modules/a/b/main.tf", true},
		{"proj", []string{"./*.tf"}, "proj/x.tf", true},
		{"proj", []string{"config"}, "proj/config/a.json", true},
		{"proj", []string{"**/*.tf", "!test/**"}, "proj/test/a.tf", false},
		{"proj", []string{"!test/**", "**/*.tf"}, "proj/test/a.tf", true},
	}
	for _, tt := range tests {
		if got := whenModifiedMatches(tt.dir, tt.patterns, []string{tt.changed}); got != tt.want {
			t.Errorf("whenModifiedMatches(%q, %q, %q) = %v, want %v", tt.dir, tt.patterns, tt.changed, got, tt.want)
		}
	}
}

// TestModuleFixtureIsRealTerraform checks with the real terraform binary that the
// module tree the discovery tests use is one terraform itself resolves, so the
// module-aware results above describe real repositories.
func TestModuleFixtureIsRealTerraform(t *testing.T) {
	t.Parallel()
	tf := testenv.Terraform(t)
	env := testenv.TerraformEnv(t)
	root := writeTree(t, moduleRepo)
	for _, dir := range []string{"envs/prod", "envs/staging"} {
		for _, args := range [][]string{{"init", "-backend=false", "-input=false", "-no-color"}, {"validate", "-no-color"}} {
			cmd := exec.Command(tf, args...)
			cmd.Dir = filepath.Join(root, dir)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("terraform %s in %s: %v\n%s", args[0], dir, err, out)
			}
		}
		// terraform init records the modules it installed; they must be the ones
		// Atoll's graph says the project uses.
		data, err := os.ReadFile(filepath.Join(root, dir, ".terraform", "modules", "modules.json"))
		if err != nil {
			t.Fatal(err)
		}
		c := openCheckout(root)
		g, err := scanRepo(c)
		c.close()
		if err != nil {
			t.Fatal(err)
		}
		for m := range g.deps(dir) {
			rel, _ := filepath.Rel(dir, m)
			if !strings.Contains(string(data), filepath.ToSlash(rel)) {
				t.Errorf("%s: terraform's modules.json does not mention module %s:\n%s", dir, m, data)
			}
		}
	}
}
