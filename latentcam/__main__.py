from latentcam.cli import main

main()
