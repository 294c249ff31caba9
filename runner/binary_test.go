package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBinaryDistribution(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	for _, name := range []string{"terraform", "tofu", "tofu1.6.3", "terraform1.4.7"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r, err := New(Config{DataDir: t.TempDir(), Terraform: filepath.Join(bin, "terraform"), Tofu: filepath.Join(bin, "tofu"), BinDir: bin, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dist, version, want, errIn string
	}{
		{"", "", "terraform", ""},
		{"terraform", "1.4.7", "terraform1.4.7", ""},
		{"opentofu", "", "tofu", ""},
		{"opentofu", "1.6.3", "tofu1.6.3", ""},
		{"opentofu", "1.7.0", "", "OpenTofu 1.7.0 is not installed"},
		{"opentofu", "1.6.3; rm -rf /", "", "is not a version"},
		{"pulumi", "", "", "is not terraform or opentofu"},
	}
	for _, tt := range tests {
		got, err := r.Binary(tt.dist, tt.version)
		if tt.errIn != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errIn) {
				t.Errorf("Binary(%q, %q) = %q, %v; want error containing %q", tt.dist, tt.version, got, err, tt.errIn)
			}
			continue
		}
		if err != nil || filepath.Base(got) != tt.want {
			t.Errorf("Binary(%q, %q) = %q, %v; want %s", tt.dist, tt.version, got, err, tt.want)
		}
	}
	r.cfg.DefaultDistribution = DistOpenTofu
	if got, err := r.Binary("", ""); err != nil || filepath.Base(got) != "tofu" {
		t.Errorf("default distribution opentofu: Binary = %q, %v", got, err)
	}
}
