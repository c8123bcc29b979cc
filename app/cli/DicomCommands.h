#pragma once
// The DICOM commands (inspect, convert) and what they share: how the command line names the series of a scan,
// and how it prints their geometry.
//
// A series is named by its SeriesInstanceUID. The reader may split one UID into several volumes (a series mixing
// orientations or image sizes, or one volume per multi-frame file of a 4D series); those parts are named
// "UID#N", N counting from 1 in the order scanDicom lists them. UIDs hold only digits and dots, so '#' cannot clash.

#include <CLI/CLI.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/ImageGeometry.h"

namespace jumeau::cli {

// Registers inspect (InspectCommand.cpp) and convert (ConvertCommand.cpp).
void registerDicomCommands(CLI::App& app);
void registerInspectCommand(CLI::App& app);
void registerConvertCommand(CLI::App& app);

// The selector of series[index]: its UID when no other entry shares it, else "UID#part".
std::string seriesSelector(const std::vector<imaging::SeriesInfo>& series, std::size_t index);

// Indices of the entries a selector names: "UID" names every part of that UID, "UID#N" only the N-th.
std::vector<std::size_t> selectSeries(const std::vector<imaging::SeriesInfo>& series, const std::string& selector);

// "256 x 256 x 160"
std::string formatSize(const imaging::ImageGeometry& g);
// "0.8 x 0.8 x 1.5" (9 significant digits, for people)
std::string formatSpacing(const imaging::ImageGeometry& g);
// "(-102, -102, -119.25)"
std::string formatPoint(const imaging::Vec3& p);

} // namespace jumeau::cli
