// jumeau: the surgical-planning workstation.
//   jumeau                 opens the built-in demo case (generated once into the user's data folder)
//   jumeau PATH            opens a DICOM folder (or a demo-case folder)
//   --screenshot DIR       after loading, saves each view and the window as PNG into DIR, then exits
//                          (exit 0 when the case loaded, 2 when it could not be opened)
//   --fusion MODE          shows the case's second series over the reference (blend, checkerboard or overlay),
//                          e.g. for a screenshot of how an MR or ultrasound sits on the CT

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QCommandLineParser>
#include <QTimer>
#include <cstdio>
#include <exception>

#include <vtkOutputWindow.h>

#include "gui/CasePresenter.h"
#include "gui/MainWindow.h"
#include "gui/RegistrationPanel.h"

int main(int argc, char** argv) {
    try {
        // VTK views need X11 (GLX); Wayland sessions run us through XWayland.
        if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "xcb");
        QApplication app(argc, argv);
        QApplication::setApplicationName("jumeau");
        QApplication::setOrganizationName("Jumeau");
        QApplication::setApplicationVersion("0.1.0");
        vtkOutputWindow::GetInstance()->PromptUserOff();

        QCommandLineParser parser;
        parser.setApplicationDescription("Jumeau: the patient's anatomical twin for surgical planning");
        parser.addHelpOption();
        parser.addVersionOption();
        parser.addPositionalArgument("path", "DICOM folder to open (default: the built-in demo case)", "[PATH]");
        QCommandLineOption screenshot("screenshot", "Save view screenshots into DIR after loading, then exit.", "DIR");
        QCommandLineOption demoDir("demo-dir", "Where the demo case lives (generated there if missing).", "DIR");
        QCommandLineOption fusion("fusion", "Show the second series over the reference: blend, checkerboard or overlay.",
                                  "MODE");
        parser.addOption(screenshot);
        parser.addOption(demoDir);
        parser.addOption(fusion);
        parser.process(app);
        const QStringList fusionModes{"blend", "checkerboard", "overlay"};
        const int fusionMode = parser.isSet(fusion) ? static_cast<int>(fusionModes.indexOf(parser.value(fusion))) : -1;
        if (parser.isSet(fusion) && fusionMode < 0) {
            std::fprintf(stderr, "jumeau: --fusion takes blend, checkerboard or overlay, not '%s'\n",
                         parser.value(fusion).toLocal8Bit().constData());
            return 64;
        }

        jumeau::gui::MainWindow window;
        window.show();

        if (fusionMode >= 0) {
            // Connected before the screenshot handler, so the fusion is on when the views are grabbed.
            QObject::connect(&window, &jumeau::gui::MainWindow::caseShown, &window, [&window, fusionMode] {
                auto* panel = window.registrationPanel();
                if (panel->seriesBox()->count() == 0) {
                    std::fprintf(stderr, "jumeau: --fusion: the case has only one series\n");
                    return;
                }
                panel->fusionModeBox()->setCurrentIndex(fusionMode);
                panel->fusionBox()->setChecked(true);
            });
        }

        if (parser.isSet(screenshot)) {
            const std::filesystem::path out = parser.value(screenshot).toStdString();
            QObject::connect(&window, &jumeau::gui::MainWindow::caseShown, &window, [&window, out] {
                // Let the views paint once before grabbing.
                QTimer::singleShot(300, &window, [&window, out] {
                    QString error;
                    if (!window.saveSnapshots(out, &error)) {
                        std::fprintf(stderr, "jumeau: %s\n", error.toLocal8Bit().constData());
                        QApplication::exit(3);
                        return;
                    }
                    std::printf("jumeau: screenshots saved in %s\n", out.string().c_str());
                    QApplication::exit(0);
                });
            });
            QObject::connect(&window, &jumeau::gui::MainWindow::loadFailed, &window, [&window, out](const QString&) {
                QTimer::singleShot(300, &window, [&window, out] {
                    window.saveSnapshots(out);
                    QApplication::exit(2);
                });
            });
        }

        const QStringList args = parser.positionalArguments();
        if (!args.isEmpty()) window.openPath(args.first().toStdString());
        else if (parser.isSet(demoDir)) window.openDemoCase(parser.value(demoDir).toStdString());
        else window.openDemoCase(jumeau::gui::CasePresenter::defaultDemoCaseDir());

        return app.exec();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jumeau: fatal error: %s\n", e.what());
        return 70;
    } catch (...) {
        std::fprintf(stderr, "jumeau: fatal unknown error\n");
        return 70;
    }
}
