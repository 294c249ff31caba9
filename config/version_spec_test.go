package config

import "testing"

// TestRequiredVersionSpec: a project's required_version becomes its exact
// version, or its constraints (all of them, as terraform requires), or
// nothing when one does not parse.
func TestRequiredVersionSpec(t *testing.T) {
	t.Parallel()
	tf := func(constraint string) string {
		return "terraform {\n  required_version = \"" + constraint + "\"\n}\n"
	}
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"exact", map[string]string{"main.tf": tf("= 1.5.7")}, "1.5.7"},
		{"range", map[string]string{"main.tf": tf(">= 1.5, < 1.7")}, ">= 1.5, < 1.7"},
		{"pessimistic", map[string]string{"main.tf": tf("~> 1.6.0")}, "~> 1.6.0"},
		{"two files", map[string]string{"a.tf": tf(">= 1.5"), "b.tf": tf(" < 1.7 ")}, ">= 1.5, < 1.7"},
		{"exact and range", map[string]string{"a.tf": tf("1.5.7"), "b.tf": tf(">= 1.0")}, "1.5.7, >= 1.0"},
		{"not a constraint", map[string]string{"main.tf": tf(">= 1.5; rm -rf /")}, ""},
		{"one bad of two", map[string]string{"a.tf": tf(">= 1.5"), "b.tf": tf("latest")}, ""},
		{"none", map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {}\n"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := openCheckout(writeTree(t, tt.files))
			defer c.close()
			got, err := requiredVersionSpec(c, ".")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("requiredVersionSpec = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTerraformVersionAsAtlantis: terraform_version is read as Atlantis
// reads it, with go-version: "v" dropped, missing numbers 0.
func TestTerraformVersionAsAtlantis(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"v1.5.7": "1.5.7", "1.5": "1.5.0", "v1": "1.0.0", "1.6.0-beta1": "1.6.0-beta1", "0.12-rc1": "0.12.0-rc1"} {
		rc, err := ParseRepoConfig("atoll.yaml", []byte("version: 3\nprojects:\n- dir: .\n  terraform_version: "+in+"\n"))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := rc.Projects[0].TerraformVersion; got != want {
			t.Errorf("terraform_version %s = %q, want %q", in, got, want)
		}
	}
}

// TestRunEnvVersionConstraint: ATLANTIS_TERRAFORM_VERSION is a version,
// never a constraint.
func TestRunEnvVersionConstraint(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]string{"1.5.7": "1.5.7", ">= 1.5, < 1.7": "", "": ""} {
		got := RunEnv(RunEnvInput{Project: Project{Dir: ".", TerraformVersion: spec}, RepoRoot: "/r"})
		if got["ATLANTIS_TERRAFORM_VERSION"] != want {
			t.Errorf("TerraformVersion %q: ATLANTIS_TERRAFORM_VERSION = %q, want %q", spec, got["ATLANTIS_TERRAFORM_VERSION"], want)
		}
	}
}
