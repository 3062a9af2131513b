package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"The MIT License (MIT)\nCopyright (c) 2013 X\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this software", []string{"Expat"}},
		{"Redistribution and use in source and binary forms, with or without\nmodification... Neither the name of Google", []string{"BSD-3-clause"}},
		{"Redistribution and use in source and binary forms, with or without modification", []string{"BSD-2-clause"}},
		{"Mozilla Public License, version 2.0\n1. Definitions", []string{"MPL-2.0"}},
		{"Apache License\nVersion 2.0, January 2004\nTERMS AND CONDITIONS FOR USE", []string{"Apache-2.0"}},
		{"MIT part: Permission is hereby granted, free of charge, to any person obtaining a copy\nApache part: Licensed under the Apache License, Version 2.0 (the \"License\")", []string{"Apache-2.0", "Expat"}},
		{"All rights reserved. Do not copy.", nil},
	} {
		if got := classify(c.text); !slices.Equal(got, c.want) {
			t.Errorf("classify(%.40q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestCopyrights(t *testing.T) {
	text := "Copyright (c) 2012 The Go Authors. All rights reserved.\n> Copyright © 2011 Russ Ross\n   Copyright [yyyy] [name of copyright owner]\nCopyright notice\nPortions Copyright (c) 2009 The Go Authors\n"
	want := []string{"2012 The Go Authors. All rights reserved.", "2011 Russ Ross", "2009 The Go Authors"}
	if got := copyrights(text); !slices.Equal(got, want) {
		t.Errorf("copyrights = %q, want %q", got, want)
	}
}

// TestWholeModule generates the file for raftsnap itself: every module the
// binary links has a paragraph, and every licence it names has its text.
func TestWholeModule(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	out := filepath.Join(t.TempDir(), "copyright")
	if err := run(out, "go", []string{testkit.ReleaseTags, "isal," + testkit.ReleaseTags}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	list, err := exec.Command("go", "list", "-deps", "-tags", testkit.ReleaseTags, "-f", "{{if not .Standard}}{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range strings.Fields(string(list)) {
		if !strings.Contains(text, "\nFiles: vendor/"+mod+"/*\n") {
			t.Errorf("no paragraph for %s", mod)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		names, ok := strings.CutPrefix(line, "License: ")
		if !ok || strings.Contains(text, "\nLicense: "+names+"\n ") {
			continue
		}
		for _, name := range strings.Split(names, " and ") {
			if !strings.Contains(text, "\nLicense: "+name+"\n ") {
				t.Errorf("licence %s is used but has no stand-alone paragraph", name)
			}
		}
	}
	if !strings.HasPrefix(text, "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n") {
		t.Error("no Format: line first")
	}
}
