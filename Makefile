# Thin wrappers around dev.sh, which does the setup (venv, extras, system graphviz).
.PHONY: demo test images bench fuzz setup
demo:   ; bash dev.sh demo
test:   ; bash dev.sh test
images: ; bash dev.sh images
bench:  ; bash dev.sh bench
fuzz:   ; bash dev.sh fuzz
setup:  ; bash dev.sh setup
