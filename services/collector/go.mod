module github.com/nodewarden/nodewarden/services/collector

go 1.26.0
