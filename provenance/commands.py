"""CLI: ``latentcam verify``, ``latentcam sign`` and ``latentcam sign-bundle``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

EXIT_FOUND, EXIT_NOTHING, EXIT_ERROR = 0, 1, 2


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
    app.command("sign")(sign)
    app.command("sign-bundle")(sign_bundle_command)


def verify(
    files: list[Path] = typer.Argument(..., help="Images, videos, or target bundle folders."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list for machines."),
    max_frames: int = typer.Option(300, "--max-frames", min=1, help="Video frames checked, spread over the file."),
) -> None:
    """Check FILES for latentcam's provenance: Content Credentials and the invisible watermark.

    Exit status: 0 when every file carries a manifest or the watermark (a bundle: a valid
    signature), 1 when one carries neither (a bundle: unsigned), 2 when one cannot be read
    (a bundle: its signature does not match).
    """
    from rich.console import Console
    from rich.markup import escape

    from .bundle_signature import BundleSignatureError, verify_bundle
    from .verify import VerifyError, verify_file

    console = Console(stderr=as_json)
    results, status = [], EXIT_FOUND
    for path in files:
        if path.is_dir():
            try:
                if not (path / "manifest.json").is_file():
                    raise BundleSignatureError(f"{path} is a folder but not a target bundle (no manifest.json)")
                signer = verify_bundle(path)
            except BundleSignatureError as exc:
                results.append({"path": str(path), "kind": "bundle", "error": str(exc)})
                status = max(status, EXIT_ERROR)
                if not as_json:
                    console.print(f"[bold]{escape(str(path))}[/bold] (target bundle)\n  [red]refused:[/red] {escape(str(exc))}")
                continue
            results.append({"path": str(path), "kind": "bundle", "found": signer is not None,
                            "signer": None if signer is None else signer.__dict__})
            if signer is None:
                status = max(status, EXIT_NOTHING)
            if not as_json:
                console.print(f"[bold]{escape(str(path))}[/bold] (target bundle)")
                console.print("  [yellow]unsigned[/yellow]" if signer is None else
                              f"  signed by {escape(signer.subject)}, manifest unchanged"
                              + (" [yellow](local identity: not a trusted issuer)[/yellow]" if signer.local else ""))
            continue
        try:
            report = verify_file(path, max_frames=max_frames)
        except (VerifyError, FileNotFoundError) as exc:
            results.append({"path": str(path), "error": str(exc)})
            status = max(status, EXIT_ERROR)
            if not as_json:
                console.print(f"[bold]{escape(str(path))}[/bold]\n  [red]error:[/red] {escape(str(exc))}")
            continue
        results.append(report.to_dict())
        if not report.found:
            status = max(status, EXIT_NOTHING)
        if not as_json:
            _print_report(console, report)
    if as_json:
        typer.echo(json.dumps(results, indent=1))
    raise typer.Exit(status)


def _print_report(console, report) -> None:
    from rich.markup import escape

    m, w = report.manifest, report.watermark
    console.print(f"[bold]{escape(report.path)}[/bold] ({report.kind})")
    if m.state == "valid":
        kind = "synthetic" if m.synthetic else f"digital source type {m.digital_source_type}"
        if m.local_identity:
            signer = f"the local identity {escape(repr(m.signer))} [yellow](not a trusted issuer)[/yellow]"
        else:
            signer = escape(f"{m.signer} ({m.signer_issuer})") + ("" if m.trusted else
                                                                 " [yellow](not on a trust list)[/yellow]")
        console.print(f"  Content Credentials: [green]valid[/green], {kind}, made by "
                      f"{escape(m.claim_generator or '?')}, signed by {signer}")
    elif m.state == "tampered":
        console.print("  Content Credentials: [red]TAMPERED[/red]: the file changed after signing")
        for failure in m.failures:
            console.print(f"    {escape(failure)}")
    elif m.state == "unreadable":
        console.print(f"  Content Credentials: not readable ({escape('; '.join(m.failures))})")
    else:
        console.print("  Content Credentials: none")
    claims = m.latentcam or {}
    if claims.get("target"):
        t = claims["target"]
        console.print(f"    target {escape(str(t.get('name')))} (manifest sha256 {str(t.get('manifest_sha256'))[:12]}…), "
                      f"watermark {'on' if claims.get('watermark') else 'OFF'}")
        consent = t.get("consent") or {}
        for key in ("licence", "statement"):
            if consent.get(key):
                console.print(f"    {key}: {escape(str(consent[key]))}")
    if w.frames_checked == 0:
        console.print(f"  Watermark: not checked ({escape(w.note or '')})")
    elif w.found:
        console.print(f"  Watermark: [green]found[/green] in {w.frames_found} of {w.frames_checked} frame(s)"
                      f"{' (and in all frames combined)' if w.combined else ''}, bundle id {w.bundle_id}, "
                      f"confidence {w.confidence:.1f}")
    else:
        console.print(f"  Watermark: not found in {w.frames_checked} frame(s) (confidence {w.confidence:.2f}; "
                      f"a mark reads ≥ 1.5)")


def sign(
    file: Path = typer.Argument(..., help="MP4/MOV/PNG/JPEG written by latentcam, signed in place."),
    bundle: Path = typer.Option(None, "--bundle", help="Target bundle shown in the file (its name, manifest hash, consent)."),
    watermark: bool = typer.Option(True, "--watermark/--no-watermark",
                                   help="Whether the frames carry latentcam's watermark (recorded in the manifest)."),
    sign_cert: Path = typer.Option(None, "--sign-cert", help="Your certificate chain (PEM, signing certificate first)."),
    sign_key: Path = typer.Option(None, "--sign-key", help="Its private key (PEM)."),
) -> None:
    """Add Content Credentials (C2PA) saying FILE is synthetic. The file is kept even if signing fails."""
    from rich.console import Console
    from rich.markup import escape

    from .content_credentials import TargetInfo, sign_media

    console = Console()
    target = None
    if bundle is not None:
        try:
            target = TargetInfo.from_bundle(bundle)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(EXIT_ERROR) from None
    result = sign_media(file, target=target, watermark=watermark, sign_cert=sign_cert, sign_key=sign_key)
    if not result.signed:
        console.print(f"[yellow]warning:[/yellow] {escape(result.warning or '')}")
        raise typer.Exit(EXIT_ERROR)
    console.print(f"signed {escape(str(file))} as {escape(result.signer or '')}")
    if result.warning:
        console.print(f"[yellow]note:[/yellow] {escape(result.warning)}")


def sign_bundle_command(
    bundle: Path = typer.Argument(..., help="Target bundle folder (holding manifest.json)."),
    sign_cert: Path = typer.Option(None, "--sign-cert", help="Your certificate chain (PEM, signing certificate first)."),
    sign_key: Path = typer.Option(None, "--sign-key", help="Its private key (PEM)."),
) -> None:
    """Sign a target bundle's manifest (which lists every file's sha256) so edits are refused."""
    from rich.console import Console
    from rich.markup import escape

    from .bundle_signature import BundleSignatureError, sign_bundle
    from .identity import IdentityError, resolve_identity

    console = Console()
    try:
        identity = resolve_identity(sign_cert, sign_key)
        signer = sign_bundle(bundle, identity)
    except (IdentityError, BundleSignatureError, OSError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None
    console.print(f"signed {escape(str(bundle))} as {escape(signer.subject)}")
    if signer.local:
        console.print(f"[yellow]note:[/yellow] the local identity in {escape(identity.source)} is not a trusted "
                      f"issuer; use --sign-cert/--sign-key for one others can check")
