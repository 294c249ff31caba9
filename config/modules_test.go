package config

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
)

func TestRequiredVersion(t *testing.T) {
	t.Parallel()
	tf := func(constraint string) string {
		return "terraform {\n  required_version = \"" + constraint + "\"\n}\n"
	}
	tests := []struct {
		name    string
		files   map[string]string
		want    string
		wantErr bool
	}{
		{"exact", map[string]string{"main.tf": tf("1.5.7")}, "1.5.7", false},
		{"equals", map[string]string{"main.tf": tf("= 1.5.7")}, "1.5.7", false},
		{"equals without space", map[string]string{"versions.tf": tf("=1.6.0")}, "1.6.0", false},
		{"prerelease", map[string]string{"main.tf": tf("1.6.0-beta1")}, "1.6.0-beta1", false},
		{"range", map[string]string{"main.tf": tf(">= 1.5")}, "", false},
		{"pessimistic", map[string]string{"main.tf": tf("~> 1.5.0")}, "", false},
		{"several constraints", map[string]string{"main.tf": tf(">= 1.5.7, < 2.0.0")}, "", false},
		{"partial version", map[string]string{"main.tf": tf("1.5")}, "", false},
		{"no terraform block", map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {}\n"}, "", false},
		{"no files", map[string]string{"README.md": "x"}, "", false},
		{"two files agree", map[string]string{"a.tf": tf("1.5.7"), "b.tf": tf("= 1.5.7")}, "1.5.7", false},
		{"two files disagree", map[string]string{"a.tf": tf("1.5.7"), "b.tf": tf(">= 1.0")}, "", false},
		{"json", map[string]string{"main.tf.json": `{"terraform": {"required_version": "1.5.7"}}`}, "1.5.7", false},
		{"not a literal", map[string]string{"main.tf": "terraform {\n  required_version = var.v\n}\n"}, "", false},
		{"terraform block with other settings", map[string]string{"main.tf": "terraform {\n  required_version = \"1.5.7\"\n  backend \"local\" {}\n  required_providers {}\n}\n"}, "1.5.7", false},
		{"parse error in another file", map[string]string{"main.tf": tf("1.5.7"), "bad.tf": "resource {"}, "1.5.7", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeTree(t, tt.files)
			got, err := RequiredVersion(dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RequiredVersion error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("RequiredVersion = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRequiredVersionAgreesWithTerraform checks against the real terraform 1.5.7
// that an exact required_version is the one terraform insists on.
func TestRequiredVersionAgreesWithTerraform(t *testing.T) {
	t.Parallel()
	bin := testenv.Terraform(t)
	env := testenv.TerraformEnv(t)
	for _, tc := range []struct {
		constraint string
		ok         bool
	}{{"= 1.5.7", true}, {"1.4.0", false}} {
		dir := writeTree(t, map[string]string{"main.tf": "terraform {\n  required_version = \"" + tc.constraint + "\"\n}\n"})
		v, err := RequiredVersion(dir)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "init", "-backend=false", "-input=false", "-no-color")
		cmd.Dir = dir
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok {
			t.Fatalf("terraform init with %q: err=%v\n%s", tc.constraint, err, out)
		}
		if !tc.ok && !strings.Contains(string(out), "Unsupported Terraform Core version") {
			t.Errorf("terraform refused %q for another reason:\n%s", tc.constraint, out)
		}
		// The version Atoll would select is exactly the one terraform accepts.
		if got := v == "1.5.7"; got != tc.ok {
			t.Errorf("RequiredVersion(%q) = %q; terraform 1.5.7 accepted: %v", tc.constraint, v, tc.ok)
		}
	}
	if _, err := RequiredVersion(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("RequiredVersion on a missing dir: want an error")
	}
}
