package main

import (
	"fmt"
	"strings"
)

type Point struct {
	X, Y int
}

func (p Point) Sum() int {
	return p.X + p.Y
}

func main() {
	names := []string{"a", "b"}
	for i, n := range names {
		if i > 0 && n != "" {
			fmt.Println(strings.ToUpper(n), i)
		}
	}
	var p Point
	p.X = 1
	fmt.Printf("%d\n", p.Sum())
}
