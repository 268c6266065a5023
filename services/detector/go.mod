module github.com/nodewarden/nodewarden/services/detector

go 1.26.0
