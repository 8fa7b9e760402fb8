"""Generate the two binary documents of the unseen2 check.

    /work/main/.venv/bin/python bench/unseen2/make_docs.py

- skylark-mobile-price-guide.docx  (python-docx; the prices sit in Word tables)
- marlow-printers-warranty-and-repairs.pdf  (reportlab platypus: paragraphs, a bulleted list
  and a Table, so the text is extractable)

Both files are committed, so the check itself needs neither library. All companies, prices,
phone numbers and addresses are invented.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------
# DOCX: Skylark Mobile price guide
# --------------------------------------------------------------------------------------------

def make_docx(path: Path) -> None:
    from docx import Document

    doc = Document()
    doc.add_heading("Skylark Mobile — SIM-only Price Guide", level=0)
    doc.add_paragraph(
        "Effective for plans taken out or renewed from 1 March 2025. All prices are in pounds "
        "sterling and include VAT at 20%."
    )

    doc.add_heading("About this guide", level=1)
    doc.add_paragraph(
        "Skylark Mobile is a UK mobile network. This guide lists the monthly prices of our SIM-only "
        "plans and the charges for services that are not included in your plan. It forms part of "
        "your contract with Skylark Mobile Ltd. If anything in the app or on a poster differs from "
        "this guide, this guide applies."
    )

    def table(headers, rows):
        t = doc.add_table(rows=1, cols=len(headers))
        t.style = "Table Grid"
        for cell, text in zip(t.rows[0].cells, headers):
            cell.text = text
            for run in cell.paragraphs[0].runs:
                run.bold = True
        for row in rows:
            cells = t.add_row().cells
            for cell, text in zip(cells, row):
                cell.text = text
        return t

    doc.add_heading("1. Monthly plans", level=1)
    doc.add_paragraph(
        "Every plan includes unlimited calls and texts to UK numbers. The Lite plan is only sold on a "
        "1-month rolling basis."
    )
    table(
        ["Plan", "1-month rolling", "12-month contract", "Data", "Roaming in Europe", "5G"],
        [
            ["Skylark Lite", "£8.00", "Not available", "6 GB", "£2.50 per day", "No"],
            ["Skylark Plus", "£14.00", "£12.00", "40 GB", "Included (15 GB fair use)", "Yes"],
            ["Skylark Max", "£24.00", "£20.00", "Unlimited", "Included (30 GB fair use)", "Yes"],
        ],
    )
    doc.add_paragraph(
        "Roaming in Europe covers the 27 EU countries plus Norway, Iceland, Liechtenstein and "
        "Switzerland. On Lite, the daily roaming charge is only taken on days you use your phone "
        "abroad. On Plus and Max, data used above the fair-use allowance costs 0.5p per MB."
    )

    doc.add_heading("2. Annual price changes", level=1)
    doc.add_paragraph(
        "Every April your monthly price goes up by a fixed amount: £1.50 a month on Plus and Max, and "
        "£1.00 a month on Lite. We will remind you by text at least 30 days before the change. This "
        "annual change does not give you the right to leave a 12-month contract without charge."
    )

    doc.add_heading("3. Extra charges", level=1)
    table(
        ["Item", "Charge", "Notes"],
        [
            ["Replacement SIM card", "£5.00", "Free if the SIM card is faulty"],
            ["Switching to eSIM, or moving an eSIM to a new phone", "Free", "Done in the Skylark app"],
            ["Paper bill", "£1.50 per month",
             "Free if you are aged 75 or over, or registered blind or partially sighted"],
            ["Late payment fee", "£7.50", "Waived the first time you pay late in any 12-month period"],
            ["Returned Direct Debit", "£4.00", "Charged each time your bank returns a payment"],
            ["5 GB data add-on", "£4.00", "Valid until the end of your billing month"],
            ["PAC or STAC code to leave Skylark", "Free", "Text PAC or STAC to 65075"],
            ["Early termination of a 12-month contract", "80% of the remaining monthly charges",
             "No charge if you cancel within 14 days of joining (cooling-off period)"],
        ],
    )

    doc.add_heading("4. Calling and texting abroad from the UK", level=1)
    table(
        ["Zone", "Example countries", "Calls per minute", "Texts"],
        [
            ["Zone 1", "EU countries, USA, Canada", "30p", "12p"],
            ["Zone 2", "Australia, India, South Africa, Turkey", "75p", "20p"],
            ["Zone 3", "All other countries", "£1.50", "30p"],
        ],
    )
    doc.add_paragraph(
        "World Bolt-on: £5.00 a month for 200 minutes of calls to landlines and mobiles in Zone 1 and "
        "Zone 2. The World Bolt-on is available on Plus and Max only and can be cancelled at the end "
        "of any billing month."
    )

    doc.add_heading("5. Changing your plan", level=1)
    doc.add_paragraph(
        "You can upgrade to a bigger plan at any time at no charge; the new price applies from your "
        "next bill.", style="List Bullet",
    )
    doc.add_paragraph(
        "On a 1-month rolling plan you can move to a smaller plan at any time from your next bill.",
        style="List Bullet",
    )
    doc.add_paragraph(
        "On a 12-month contract you can only move to a smaller plan in the last 30 days of the "
        "contract.", style="List Bullet",
    )

    doc.add_heading("6. Spending cap", level=1)
    doc.add_paragraph(
        "You can set a monthly spending cap of between £0 and £100 on charges outside your plan in "
        "the Skylark app. A cap of £0 blocks all extra charges, including calls to premium-rate "
        "numbers and the Lite daily roaming charge."
    )

    doc.add_heading("7. Contact us", level=1)
    doc.add_paragraph(
        "Customer care: dial 150 from your Skylark phone (free) or call 0330 088 4150 from any other "
        "phone. Lines are open Monday to Saturday, 8am to 8pm. Chat in the Skylark app is available "
        "every day from 8am to 10pm. Written complaints: Skylark Mobile Ltd, 40 Wharf Road, "
        "Manchester M3 4LZ."
    )
    doc.save(str(path))


# --------------------------------------------------------------------------------------------
# PDF: Marlow printers warranty, returns and repairs
# --------------------------------------------------------------------------------------------

def make_pdf(path: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import inch
    from reportlab.platypus import (ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer,
                                    Table, TableStyle)

    styles = getSampleStyleSheet()
    body, h1, h2 = styles["BodyText"], styles["Title"], styles["Heading2"]
    story = []

    def para(text):
        story.append(Paragraph(text, body))

    def bullets(items):
        story.append(ListFlowable([ListItem(Paragraph(t, body)) for t in items], bulletType="bullet",
                                  start="•", leftIndent=14))

    story.append(Paragraph("Marlow LX340 and LX360 Laser Printers: Warranty, Returns and Repairs", h1))
    para("Marlow Imaging Inc. · Customer Support Guide · Revised January 2025 · United States only")

    story.append(Paragraph("1. Warranty periods", h2))
    para("Every Marlow printer comes with a limited hardware warranty that starts on the date of "
         "purchase. The <b>LX340</b> is covered for <b>1 year</b> and the <b>LX360</b> for <b>2 years</b>.")
    para("If you register your printer at marlowprint.com/register within 60 days of purchase, we add "
         "one extra year to the warranty. A registered LX340 is therefore covered for 2 years and a "
         "registered LX360 for 3 years. Printers registered after 60 days keep the standard warranty.")
    para("Advance exchange is available for the LX360 while it is under warranty: we ship a replacement "
         "printer first, and you return the faulty one in the same box within 10 days. LX340 printers "
         "under warranty are repaired at our Memphis service center instead; the typical turnaround is "
         "5 to 7 business days plus shipping.")

    story.append(Paragraph("2. What the warranty does not cover", h2))
    bullets([
        "Toner cartridges and drum units, which are consumables, unless they are defective when first "
        "installed.",
        "Damage caused by refilled or non-Marlow toner cartridges.",
        "Wear from printing above the maximum monthly duty cycle: 10,000 pages for the LX340 and "
        "25,000 pages for the LX360.",
        "Damage from shipping the printer without the orange transport lock fitted.",
        "Cosmetic damage such as scratches or dents that does not affect printing.",
    ])

    story.append(Paragraph("3. Returns within 30 days", h2))
    para("These rules apply to printers bought directly from the Marlow online store. If you bought your "
         "printer from a retailer, please return it to that retailer under their policy.")
    bullets([
        "<b>Change of mind:</b> you can return the printer within 30 days of delivery. You pay the "
        "return shipping. Unopened printers are refunded in full; opened printers are refunded minus a "
        "15% restocking fee.",
        "<b>Defective on arrival:</b> if the printer does not work when it arrives, contact us within "
        "14 days of delivery. We e-mail you a free prepaid UPS return label and ship a replacement at no "
        "cost to you. No restocking fee is charged.",
        "Refunds are made to the original payment method within 5 business days of the printer "
        "reaching our warehouse.",
    ])

    story.append(Paragraph("4. Out-of-warranty repair prices", h2))
    para("We repair printers that are out of warranty for a flat price per repair:")
    data = [
        ["Repair", "LX340", "LX360"],
        ["Fuser unit replacement", "$89", "$119"],
        ["Paper pickup roller", "$45", "$45"],
        ["Main logic board", "$139", "$169"],
        ["Wi-Fi module", "Not fitted", "$59"],
        ["Diagnostic fee (only if you decline the repair)", "$35", "$35"],
    ]
    t = Table(data, colWidths=[3.4 * inch, 1.2 * inch, 1.2 * inch])
    t.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
    ]))
    story.append(t)
    story.append(Spacer(1, 8))
    para("Prices include parts, labour and return shipping within the contiguous United States. "
         "Out-of-warranty repairs are guaranteed for 90 days.")

    story.append(Paragraph("5. Toner and drum", h2))
    para("The LX340 uses the TN-34 toner cartridge, which prints about 1,500 pages and costs $39.99. "
         "The LX360 uses the TN-36 standard cartridge (about 3,000 pages, $54.99) or the TN-36XL "
         "high-yield cartridge (about 6,000 pages, $89.99). The LX360's DR-36 drum unit lasts about "
         "30,000 pages and costs $69.99. Page yields are measured to ISO/IEC 19752.")

    story.append(Paragraph("6. Contact support", h2))
    para("Phone: 1-888-555-0142, Monday to Friday 8 am to 7 pm and Saturday 9 am to 1 pm Central Time. "
         "Live chat: marlowprint.com/support. Service center (for repairs sent by mail): Marlow Imaging "
         "Inc., 4100 Airways Boulevard, Memphis, TN 38116. Always request a repair authorization number "
         "before shipping a printer to us.")

    SimpleDocTemplate(str(path), pagesize=letter, title="Marlow printers: warranty, returns and repairs",
                      author="Marlow Imaging Inc.").build(story)


if __name__ == "__main__":
    make_docx(HERE / "skylark-mobile-price-guide.docx")
    make_pdf(HERE / "marlow-printers-warranty-and-repairs.pdf")
    print("wrote", HERE / "skylark-mobile-price-guide.docx", "and", HERE / "marlow-printers-warranty-and-repairs.pdf")
