package vcs

import "testing"

func TestParsePermission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Permission
		wantErr bool
	}{
		{in: "admin", want: PermAdmin},
		{in: "maintain", want: PermMaintain},
		{in: "write", want: PermWrite},
		{in: "triage", want: PermTriage},
		{in: "read", want: PermRead},
		{in: "none", want: PermNone},
		{in: "Admin", want: PermAdmin},
		{in: "WRITE", want: PermWrite},
		{in: "", wantErr: true},
		{in: "owner", wantErr: true},
		{in: "push", wantErr: true},
		{in: " write", wantErr: true},
		{in: "any", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParsePermission(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePermission(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestPermissionAtLeast(t *testing.T) {
	t.Parallel()
	order := []Permission{PermNone, PermRead, PermTriage, PermWrite, PermMaintain, PermAdmin}
	for i, p := range order {
		for j, min := range order {
			if got, want := p.AtLeast(min), i >= j; got != want {
				t.Errorf("%q.AtLeast(%q) = %v, want %v", p, min, got, want)
			}
		}
	}
	tests := []struct {
		p, min Permission
		want   bool
	}{
		{"", PermNone, true},        // unknown ranks as none
		{"", PermRead, false},       // ... so it meets nothing above none
		{"owner", PermRead, false},  // unknown
		{"Admin", PermWrite, true},  // case does not matter
		{PermWrite, "WRITE", true},  // on either side
		{PermAdmin, "", false},      // an unknown requirement fails closed
		{PermAdmin, "wrtie", false}, // a misspelt one too
		{PermAdmin, "any", false},   // "anyone" is the caller's business
		{PermNone, PermNone, true},
	}
	for _, tt := range tests {
		if got := tt.p.AtLeast(tt.min); got != tt.want {
			t.Errorf("%q.AtLeast(%q) = %v, want %v", tt.p, tt.min, got, tt.want)
		}
	}
}
